"""Only the optional C extension lives here; the project's metadata is in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "safepoint.scan._listing",
            ["src/safepoint/scan/_listing.c"],
            optional=True,  # no compiler: safepoint.scan.listing falls back to pure Python
        )
    ]
)
