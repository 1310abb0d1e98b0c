"""Checking a Firestore export in place, as ``dr verify`` reports it.

Every file of the export is read (nothing is imported): its size and
checksums against the manifest, every record parsed, documents counted per
collection group against the manifest's counts
(:func:`shared.firestore.verify.check_export`). An export is small next to the
database it came from and its files are only readable whole, so there is no
cheaper level: ``--read-data`` and ``--sample`` change nothing here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared.firestore.verify import check_export
from shared.manifest import Manifest
from shared.verification import CheckResult

if TYPE_CHECKING:
    from google.cloud.storage import Bucket


def check_backup(bucket: Bucket, manifest: Manifest) -> CheckResult:
    found = check_export(bucket, manifest)
    details = found.details
    if not details:  # the files could not be read to the end
        checked: tuple[str, ...] = ("export files read against the manifest, up to the damage",)
        return CheckResult("firestore", found.backup, checked, found.problems)
    checked = (
        f"{details.get('files', 0)} export files read in full ({details.get('bytes', 0)} bytes): "
        "size, CRC32C and SHA-256 against the manifest",
        f"{details.get('documents', 0)} documents parsed and counted per collection group "
        "against the manifest",
    )
    return CheckResult("firestore", found.backup, checked, found.problems)
