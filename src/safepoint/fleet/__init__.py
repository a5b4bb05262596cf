"""Fleet rollback on Ansible: every host of a site to one checkpoint, in batches, with health
gates and undo (issue 18; docs/FLEET.md).

Owns the glue between ``safepoint fleet`` and Ansible: the collection shipped inside this
package (``ansible_collections/safepoint/fleet``: the module that runs each host's own
``safepoint --json``, the playbooks, the callback that writes each host's result), running
``ansible-playbook`` (``playbook``), the controller's fleet journal (``journal``), the flow and
its undo (``rollback``), and what is reported (``report``, ``status``). It never opens a site:
the hosts' sites are reached only through Ansible.

An interruption (``kill -9`` of the controller) leaves each host either at the target or where
it was, or mid-rollback with its own journal that ``safepoint recover`` finishes; the fleet
journal keeps where every host was before it changed, so ``fleet undo`` or the same
``fleet rollback`` again finishes the job.
"""
