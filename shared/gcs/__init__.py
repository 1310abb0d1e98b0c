"""Cloud Storage backup and restore: incremental, server-side, fanned out in shards.

Object bytes never pass through a function: every copy is a Cloud Storage
rewrite from the source bucket into the backup bucket, and every restore a
rewrite back. What a backup *is* lives in the backup bucket, readable with
``gsutil cat`` at 3 a.m.::

    gcs/<tier>/<YYYY-MM-DD>/<run-id>/
        todo/<bucket>/<shard>.json     the lister's work list for one shard
        done/<bucket>/<shard>.json     the worker's result for it (created once)
        plan.json                      written when listing ends: how many shards to wait for
        snapshot/<bucket>.jsonl        one line per source object (name, size, checksums,
                                       metadata, and where its bytes live)
        manifest.json                  the commit point, written last, exactly once
    gcs-objects/<bucket>/<generation>/<object-name>
                                       one copy per source object generation, shared by
                                       every snapshot that contains that generation

A run is incremental because an object whose generation (or size and
checksums) equals the previous snapshot's entry reuses that entry's copy. A
run is a backup only once its manifest exists; a killed run leaves an
incomplete directory the catalog reports and retention removes after its
grace period.

Modules: :mod:`~shared.gcs.lister` (list, compare, shard), :mod:`~shared.gcs.sinks`
(shards to Pub/Sub or to threads), :mod:`~shared.gcs.worker` and
:mod:`~shared.gcs.copier` (copy one shard), :mod:`~shared.gcs.finalize`
(snapshot, :mod:`~shared.gcs.critical` checks, manifest, report),
:mod:`~shared.gcs.sweep` (retention), :mod:`~shared.gcs.restore` and
:mod:`~shared.gcs.restorer` (the three restore forms, test mode, dry run),
:mod:`~shared.gcs.backup` (a whole run in-process) and
:mod:`~shared.gcs.handlers` (the Pub/Sub entry points).
"""
