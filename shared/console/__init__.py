"""``dr``: the operator's console for backups and restores, one command for every target.

The command tree lives in :mod:`shared.console.main`; each command family has
its own module. Commands are thin: they resolve what the operator named
(a target, a backup id, a request id) through :mod:`shared.console.session`,
call the same library functions the Cloud Functions and the job use, and
print either a table for people or JSON for scripts.
"""
