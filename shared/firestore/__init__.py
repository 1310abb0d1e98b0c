"""Firestore: managed exports (backup), their completion step, and imports (restore).

* :mod:`~shared.firestore.jobs` -- what each function does (``handlers`` call it);
* :mod:`~shared.firestore.export` -- start an export and record it as pending;
* :mod:`~shared.firestore.complete` -- finalize ended exports: manifest, counts, notification;
* :mod:`~shared.firestore.restore` -- plan, refuse or start a restore import;
* :mod:`~shared.firestore.finish_restore` -- carry restore imports to their end;
* :mod:`~shared.firestore.verify` -- count documents against a manifest;
* :mod:`~shared.firestore.exportfile` / :mod:`~shared.firestore.wire` -- read the export format;
* :mod:`~shared.firestore.admin` -- the Admin API calls, errors translated;
* :mod:`~shared.firestore.pending` / :mod:`~shared.firestore.imports` -- in-flight records.
"""
