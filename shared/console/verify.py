"""``dr verify``: read a backup where it lies and check it against its manifest (restic ``check``).

* MongoDB: the archive is downloaded, decrypted, decompressed and unpacked in
  memory; every file's size and SHA-256, every collection's count and content
  hash, and the stored object's own checksums are compared with the manifest
  (:func:`shared.mongodb.verify.verify_archive`, a restore's first pass).
* Cloud Storage: the snapshot's object lists, then every copy's checksums;
  ``--read-data`` or ``--sample N%`` also reads copies (:mod:`shared.gcs.check`).
* Firestore: every export file read, records parsed and documents counted
  (:mod:`shared.firestore.check`).

Exit 0 when everything matches; 65 (damaged data) with every problem listed.
"""

from __future__ import annotations

from typing import Any

import click

from shared.catalog import CatalogEntry
from shared.console import output
from shared.console.session import Session, manifest_url
from shared.errors import IntegrityError, RequestError
from shared.manifest import TARGETS
from shared.verification import CheckResult


def check(session: Session, entry: CatalogEntry, read_data: bool, sample: float) -> CheckResult:
    manifest = entry.manifest
    target = entry.location.target
    bucket = session.catalog(target).bucket
    where = manifest_url(entry, bucket.name)
    if manifest is None:
        return CheckResult(target, where, (), ("incomplete run: no manifest to check against",))
    if target == "gcs":
        from shared.gcs.check import check_snapshot

        return check_snapshot(bucket, manifest, read_data=read_data, sample=sample)
    if target == "firestore":
        from shared.firestore.check import check_backup

        return check_backup(bucket, manifest)
    return _check_archive(session, entry, where)


def _check_archive(session: Session, entry: CatalogEntry, where: str) -> CheckResult:
    from shared import clients
    from shared.keys import keyring_for
    from shared.mongodb.pipeline import ARCHIVE_NAME, open_stored
    from shared.mongodb.verify import verify_archive

    manifest = entry.manifest
    assert manifest is not None  # checked by the caller
    bucket = session.catalog("mongodb").bucket
    encryption = session.settings.encryption
    name = manifest.location.path(ARCHIVE_NAME)
    checked = (
        f"gs://{bucket.name}/{name} downloaded, decrypted (key {manifest.key_id}), "
        "decompressed and unpacked in memory",
        "every file's size and SHA-256, every collection's document count and content hash, "
        "the stored object's SHA-256 against the manifest",
    )
    try:
        keyring = keyring_for(encryption, clients.secret_access())
        specs = verify_archive(open_stored(bucket, name, None, keyring), manifest, name)
    except IntegrityError as exc:
        return CheckResult("mongodb", where, checked, (f"{type(exc).__name__}: {exc}",))
    return CheckResult("mongodb", where, (*checked, f"{len(specs)} namespaces match"))


def _percent(text: str | None) -> float:
    if text is None:
        return 0.0
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        value = -1.0
    if not 0 < value <= 100:
        raise RequestError(f"--sample is {text!r}; expected a percentage such as 10%")
    return value


@click.command("verify")
@click.argument("backup", required=False)
@click.option("--latest", "latest_of", type=click.Choice(TARGETS), help="the newest backup of")
@click.option("--read-data", is_flag=True, help="read every copied object (Cloud Storage)")
@click.option("--sample", metavar="N%", help="read N% of the copied objects (Cloud Storage)")
@output.json_flag
@click.pass_obj
def verify(
    session: Session,
    backup: str | None,
    latest_of: str | None,
    read_data: bool,
    sample: str | None,
    as_json: bool,
) -> int:
    """Check a backup against its manifest, reading it where it lies; nothing is restored."""
    if (backup is None) == (latest_of is None):
        raise RequestError("name one backup, or --latest TARGET")
    entry = session.latest(latest_of) if latest_of else session.find(str(backup))
    result = check(session, entry, read_data, _percent(sample))
    if as_json:
        output.print_json({"id": entry.backup_id, **result.to_json()})
    else:
        _print(entry, result)
    return 0 if result.ok else IntegrityError.exit_code


def _print(entry: CatalogEntry, result: CheckResult) -> None:
    rows: list[tuple[str, Any]] = [("backup", f"{entry.backup_id} ({result.backup})")]
    rows += [("checked", line) for line in result.checked]
    rows += [("DAMAGED", problem) for problem in result.problems]
    rows.append(("result", "OK: matches its manifest" if result.ok else
                 f"DAMAGED: {len(result.problems)} problem(s)"))  # fmt: skip
    output.show(output.table(f"Verify {result.target}", ("", ""), rows))
