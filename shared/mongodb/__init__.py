"""MongoDB backups and restores, run as a Cloud Run job that the functions start.

The functions never connect to MongoDB: the trigger function and the restore
dispatcher start a job execution, and the job does the work. A backup dumps
with pymongo into mongodump's layout, packed as one tar stream
(``ARCHIVE_FORMAT.md``), compressed, encrypted and uploaded without touching
disk, then ends through :func:`shared.backup_end.end_backup`; a restore ends
its request through :mod:`shared.restore.lifecycle`.

Module map:

* the target and the job: :mod:`.target` (the :mod:`shared.target` protocols
  for the functions), :mod:`.handlers` (the trigger function's handler),
  :mod:`.executions` (starting job executions), :mod:`.jobenv` (an
  execution's environment names), :mod:`.job` (the job's command line),
  :mod:`.commands` (what each job command does);
* backup: :mod:`.backup` (one run, start to end), :mod:`.dump` (the
  collections), :mod:`.oplog` (the oplog window), :mod:`.outage` (riding out
  an unreachable server);
* restore: :mod:`.request` (the typed request), :mod:`.plan` (which backup,
  where, and the production rule), :mod:`.namespaces` (``--ns*`` rules),
  :mod:`.restore` (one restore), :mod:`.load` and :mod:`.inserts` (the
  writing pass), :mod:`.replay` and :mod:`.updates` (oplog replay),
  :mod:`.verify` (archive and restored data against the manifest);
* formats: :mod:`.names` (mongodump's file names), :mod:`.metadata`
  (``metadata.json``, ``prelude.json``), :mod:`.bsonio` (concatenated BSON),
  :mod:`.tarwriter` and :mod:`.archive` (the tar stream), :mod:`.pipeline`
  (compression, encryption, upload and download);
* connection: :mod:`.connection` (connecting, driver errors as
  :mod:`shared.errors`).
"""
