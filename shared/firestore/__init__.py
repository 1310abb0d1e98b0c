"""Firestore: managed exports (backup) and imports (restore), both ended by a completion step.

The lifecycle (:mod:`shared.target`), module by module:

* :mod:`~shared.firestore.target` -- the backup and restore targets: what the
  handlers, the registry and the console drive;
* :mod:`~shared.firestore.backup` -- backup start: plan or start an export
  (recorded as pending), and end a failed run;
* :mod:`~shared.firestore.backup_completion` -- backup completion: end every
  run whose export has ended, through :func:`shared.backup_end.end_backup`;
* :mod:`~shared.firestore.request` -- the typed restore request and its shape;
* :mod:`~shared.firestore.restore` -- restore start: resolve the export, the
  production rule, plan, refuse or start an import;
* :mod:`~shared.firestore.restore_completion` -- restore completion: carry
  each import on, verify, end it through :mod:`shared.restore.lifecycle`;
* :mod:`~shared.firestore.completion` -- the scheduled step that runs both completions;
* :mod:`~shared.firestore.backup_record` / :mod:`~shared.firestore.restore_record`
  -- the two pending records (an export in flight, an import in flight);
* :mod:`~shared.firestore.handlers` -- the functions' Pub/Sub handlers.

Beneath them: :mod:`~shared.firestore.verify` (count documents against a
manifest), :mod:`~shared.firestore.contents` (compare restored documents
with the export's), :mod:`~shared.firestore.references` (what an import does
with references, and the rewrite), :mod:`~shared.firestore.canonical` (the
canonical form both sides hash), :mod:`~shared.firestore.exportfile` /
:mod:`~shared.firestore.wire` / :mod:`~shared.firestore.entity` (read the
export format), :mod:`~shared.firestore.documents` (stored documents as raw
values), :mod:`~shared.firestore.check` (``dr verify``'s check of a backup),
:mod:`~shared.firestore.admin` (the Admin API calls, errors translated).
"""
