"""A test-only backup target: the objects under one bucket prefix, copied into the backup bucket.

Written by following the README's "Adding a backup target", and nothing
else: it brings its own request shape, restore target, backup target and
handler, and is registered by adding one entry to the registry's. The
dispatcher, the CLI and the other targets do not know it.

Module map: :mod:`.request` (the ``dr-restore`` fields and the typed request),
:mod:`.target` (settings, :class:`~.target.ObjectsBackupTarget`,
:class:`~.target.ObjectsRestoreTarget`), :mod:`.handlers` (the scheduler
message handler and the registry entry).
"""

TARGET = "objects"
