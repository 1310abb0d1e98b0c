"""Firestore: managed exports (backup), their completion step, and imports (restore).

* :mod:`~shared.firestore.jobs` -- what each function does (``handlers`` call it);
* :mod:`~shared.firestore.export` -- start an export and record it as pending;
* :mod:`~shared.firestore.complete` -- finalize ended exports: manifest, counts, notification;
* :mod:`~shared.firestore.restore` -- plan, refuse or start a restore import;
* :mod:`~shared.firestore.finish_restore` -- carry restore imports to their end;
* :mod:`~shared.firestore.verify` -- count documents against a manifest;
* :mod:`~shared.firestore.contents` -- compare restored documents with the export's, one by one;
* :mod:`~shared.firestore.references` -- what an import does with references, and the rewrite;
* :mod:`~shared.firestore.canonical` -- the canonical form of values that both sides hash;
* :mod:`~shared.firestore.exportfile` / :mod:`~shared.firestore.wire` -- read the export format;
* :mod:`~shared.firestore.entity` -- decode an exported document's fields;
* :mod:`~shared.firestore.documents` -- read and rewrite stored documents as raw values;
* :mod:`~shared.firestore.admin` -- the Admin API calls, errors translated;
* :mod:`~shared.firestore.pending` / :mod:`~shared.firestore.imports` -- in-flight records.
"""
