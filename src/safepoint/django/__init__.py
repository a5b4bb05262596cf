"""Django: what a Django site's own interpreter says about its database, never changing files.

``site`` finds a Django site (``manage.py`` in the root), its interpreter and its settings
module; ``probe`` runs a small script with that interpreter (``python -c``, Django's own
``MigrationLoader``/``MigrationRecorder``, so any database Django supports works) and returns
JSON: the migrations applied, the ``DATABASES`` settings (never a password), the reversibility
of a backward plan; ``probe.migrate`` runs ``manage.py migrate``. ``migrations`` reads the
migration files a checkpoint holds from its paths alone (no Django needed).

Changes no file of the site. ``migrate`` changes the database; an interruption leaves it at
whichever migration Django reached (Django records each step as it goes), which the next
``probe.state`` reads.
"""
