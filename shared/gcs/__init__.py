"""Cloud Storage backup and restore: incremental, server-side, fanned out in shards.

Object bytes never pass through a function: every copy is a Cloud Storage
rewrite from the source bucket into the backup bucket, and every restore a
rewrite back. What a backup *is* lives in the backup bucket, readable with
``gsutil cat`` at 3 a.m.::

    gcs/<tier>/<YYYY-MM-DD>/<run-id>/
        todo/<bucket>/<shard>.json     the lister's work list for one shard
        done/<bucket>/<shard>.part     the worker's result: its snapshot lines, a summary
                                       in metadata (created once)
        plan.json                      written when listing ends: how many shards to wait for
        snapshot/<bucket>.jsonl        one line per source object (name, size, checksums,
                                       metadata, and where its bytes live), composed
                                       from the parts
        manifest.json                  the commit point, written last, exactly once
    gcs-objects/<bucket>/<generation>/<object-name>
                                       one copy per source object generation, shared by
                                       every snapshot that contains that generation

A run is incremental because an object whose generation (or size and
checksums) equals the previous snapshot's entry reuses that entry's copy. A
run is a backup only once its manifest exists; a killed run leaves an
incomplete directory the catalog reports and retention removes after its
grace period.

Modules, in lifecycle order:

* :mod:`~shared.gcs.handlers`: the Pub/Sub entry points (backup trigger, shard, listing step).
* :mod:`~shared.gcs.target`: the :class:`~shared.target.BackupTarget` and
  :class:`~shared.target.RestoreTarget` the handlers and the dispatcher drive.
* :mod:`~shared.gcs.context`: settings, per-thread clients, the clock, the notifier, copy threads.
* :mod:`~shared.gcs.backup`: a whole run in this process (library, CLI, benchmark).
* :mod:`~shared.gcs.lister`: start a run (or plan one), record it, hand out listing steps.
* :mod:`~shared.gcs.ranges`: a bucket's listing cut into name ranges listed at once.
* :mod:`~shared.gcs.listing`, :mod:`~shared.gcs.steps`, :mod:`~shared.gcs.pages`: one
  resumable listing step, its record (attempts, outcome), its pages compared with the
  base snapshot.
* :mod:`~shared.gcs.sinks`: where shards go (Pub/Sub, or threads in this process).
* :mod:`~shared.gcs.run`: a run's working files (work lists, shard results, the plan).
* :mod:`~shared.gcs.worker` and :mod:`~shared.gcs.copier`: copy one shard, record its result.
* :mod:`~shared.gcs.shard_groups`: whether every shard has reported, at a bounded cost.
* :mod:`~shared.gcs.parts`, :mod:`~shared.gcs.compose`: a shard's part of the snapshot
  with its summary; the parts joined server side, checked by CRC32C arithmetic.
* :mod:`~shared.gcs.run_completion`: complete the run (snapshot, :mod:`~shared.gcs.critical`
  checks, manifest) and end it through :func:`shared.backup_end.end_backup`.
* :mod:`~shared.gcs.snapshot`, :mod:`~shared.gcs.properties`, :mod:`~shared.gcs.reader`:
  a snapshot's entries, the object properties they keep, reading them back verified.
* :mod:`~shared.gcs.sweep`: where runs end (:func:`~shared.gcs.sweep.run_end`) and the
  sweep of copies no kept snapshot references, after retention.
* :mod:`~shared.gcs.request`: a restore request, typed and valid once built.
* :mod:`~shared.gcs.bucket_restore`: restore one bucket: resolve the snapshot, the
  production rule, test mode, plan.
* :mod:`~shared.gcs.object_restore`: object by object: compare, copy what differs, verify.
* :mod:`~shared.gcs.check`: check a snapshot in place (``dr verify``).
"""
