"""The completion step (``dr-firestore-complete``): end finished exports, carry imports on.

Both halves of Firestore's lifecycle are asynchronous, so one scheduled step
resumes them: the backup completion (:mod:`shared.firestore.backup_completion`)
ends every run whose export has ended, and the restore completion
(:mod:`shared.firestore.restore_completion`) advances every import in flight,
when a state bucket (``DR_STATE_BUCKET``) is configured.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.firestore.restore_completion import complete_restores

if TYPE_CHECKING:
    from shared.firestore.backup_completion import Completion
    from shared.firestore.target import FirestoreBackupTarget
    from shared.restore.status import StatusStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompletionRun:
    exports: list[Completion]
    restores: list[Completion]


def complete(backups: FirestoreBackupTarget, store: StatusStore | None) -> CompletionRun:
    """End finished exports; advance restore imports when there is a state bucket."""
    exports = backups.complete()
    if store is None:
        log.warning("DR_STATE_BUCKET is not set: Firestore restore imports are not checked")
        return CompletionRun(exports, [])
    restores = complete_restores(
        backups.settings,
        store=store,
        client=backups.client,
        now=backups.clock(),
        timeout=backups.timeout,
    )
    return CompletionRun(exports, restores)
