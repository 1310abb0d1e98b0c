"""MongoDB backups as a Cloud Run job, and their restores.

The trigger function (:mod:`.handlers`) only starts a job execution; the job
(:mod:`.job`) dumps with pymongo into mongodump's layout, packed as one tar
stream (``ARCHIVE_FORMAT.md``), compressed, encrypted and uploaded without
touching disk, then commits a manifest. Restores run as job executions too,
because they outlast a function's time limit.
"""
