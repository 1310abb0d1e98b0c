"""Key sources: key files and Secret Manager versions, and rotation across both."""

from __future__ import annotations

import base64
import io
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from shared.clients import secret_access
from shared.config import EncryptionSettings, Endpoints
from shared.crypto import Key, decrypt_bytes, encrypt_bytes, read_header
from shared.errors import ConfigError, KeyNotFoundError, RefusedError, WrongKeyError
from shared.keys import (
    FileKeyring,
    MigratingKeyring,
    SecretManagerKeyring,
    StaticKeyring,
    fingerprint,
    generate_key_file,
    keyring_for,
    main,
    parse_key,
)
from tests.devstack.standin import SecretManagerStandIn

ROOT = Path(__file__).resolve().parent.parent

MATERIAL = bytes(range(100, 132))


def key_id_of(stream: bytes) -> str:
    return read_header(io.BytesIO(stream)).key_id


@pytest.mark.parametrize(
    "content",
    [
        MATERIAL.hex().encode(),
        MATERIAL.hex().upper().encode() + b"\n",
        b"  " + base64.b64encode(MATERIAL) + b"\r\n",
        MATERIAL,
        b" " * 16 + b"\n" * 16,  # 32 raw bytes, whitespace or not
    ],
    ids=["hex", "hex-upper-newline", "base64-spaced", "raw", "raw-whitespace"],
)
def test_accepted_key_forms(content: bytes) -> None:
    expected = content if len(content) == 32 else MATERIAL
    assert parse_key(content, "key file k") == expected


@pytest.mark.parametrize(
    "content",
    [b"", b"short", MATERIAL.hex()[:-1].encode(), b"g" * 64, MATERIAL + b"\n", b"=" * 44],
    ids=["empty", "short", "hex-63", "not-hex", "raw-plus-newline", "bad-base64"],
)
def test_rejected_key_forms_name_the_place_not_the_content(content: bytes) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_key(content, "key file /etc/k")
    message = str(caught.value)
    assert "key file /etc/k" in message
    assert "64 hex characters, 44 base64 characters or exactly 32 raw bytes" in message
    assert MATERIAL.hex()[:16] not in message


def test_fingerprint_is_stable_and_does_not_reveal_the_key() -> None:
    key_id = fingerprint(MATERIAL)
    assert key_id.startswith("file:sha256:")
    assert len(key_id) == len("file:sha256:") + 16
    assert key_id == fingerprint(bytes(MATERIAL))
    assert key_id != fingerprint(bytes(32))
    assert MATERIAL.hex()[:16] not in key_id


def test_generate_key_file_is_private_loadable_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "backup_encryption.key"
    key = generate_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert FileKeyring([path]).current() == key
    with pytest.raises(RefusedError, match="already exists"):
        generate_key_file(path)
    assert FileKeyring([path]).current() == key


def test_file_keyring_errors_name_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "missing.key"
    with pytest.raises(ConfigError, match=f"cannot read key file {missing}"):
        FileKeyring([missing])
    bad = tmp_path / "bad.key"
    bad.write_text("correct horse battery staple\n")
    with pytest.raises(ConfigError, match=f"key file {bad} does not hold a key") as caught:
        FileKeyring([bad])
    assert "horse" not in str(caught.value)
    with pytest.raises(ConfigError, match="names no key file"):
        FileKeyring.from_setting(" , ")


def test_file_rotation_new_backups_use_the_newest_old_ones_still_decrypt(tmp_path: Path) -> None:
    old_path, new_path = tmp_path / "k1.key", tmp_path / "k2.key"
    old = generate_key_file(old_path)
    before = encrypt_bytes(b"backup made with key 1", FileKeyring([old_path]).current())

    new = generate_key_file(new_path)
    rotated = FileKeyring.from_setting(f"{old_path}, {new_path}")
    assert rotated.current() == new
    assert new.key_id != old.key_id
    assert key_id_of(encrypt_bytes(b"new", new)) == new.key_id
    assert decrypt_bytes(before, rotated) == b"backup made with key 1"
    with pytest.raises(KeyNotFoundError, match=old.key_id):
        decrypt_bytes(before, FileKeyring([new_path]))


class FakeSecretVersions:
    """Secret Manager's access call over an in-memory list of versions (1-based)."""

    def __init__(self, secret: str, project_number: str = "123456") -> None:
        self.versions: list[bytes] = []
        self.calls: list[str] = []
        self._resolved = secret.replace(secret.split("/")[1], project_number, 1)

    def add(self, payload: bytes) -> None:
        self.versions.append(payload)

    def __call__(self, version_name: str) -> tuple[str, bytes]:
        self.calls.append(version_name)
        number = version_name.rsplit("/", 1)[1]
        index = len(self.versions) if number == "latest" else int(number)
        if not 1 <= index <= len(self.versions):
            raise KeyNotFoundError(f"secret version {version_name} does not exist")
        return f"{self._resolved}/versions/{index}", self.versions[index - 1]


SECRET = "projects/eyewearml-prod/secrets/backup-key"


def test_secret_rotation_new_backups_use_the_newest_old_ones_still_decrypt() -> None:
    access = FakeSecretVersions(SECRET)
    access.add(os.urandom(32).hex().encode() + b"\n")
    keyring = SecretManagerKeyring(access, SECRET)
    first = keyring.current()
    assert first.key_id == "projects/123456/secrets/backup-key/versions/1"
    before = encrypt_bytes(b"backup made with version 1", first)

    access.add(base64.b64encode(os.urandom(32)))
    second = keyring.current()
    assert second.key_id.endswith("/versions/2")
    assert key_id_of(encrypt_bytes(b"new", second)) == second.key_id

    restarted = SecretManagerKeyring(access, SECRET)
    assert decrypt_bytes(before, restarted) == b"backup made with version 1"
    assert access.calls[-1] == first.key_id


def test_an_offline_copy_of_a_version_opens_its_backups_without_secret_manager(
    tmp_path: Path,
) -> None:
    """The operator's offline copy (a key file named by its version) decrypts that version's streams."""
    access = FakeSecretVersions(SECRET)
    payload = os.urandom(32).hex().encode()
    access.add(payload)
    version = SecretManagerKeyring(access, SECRET).current()
    backup = encrypt_bytes(b"backup made with version 1", version)

    copy = tmp_path / "offline.hex"
    copy.write_bytes(payload)
    with pytest.raises(KeyNotFoundError, match="versions/1"):
        decrypt_bytes(backup, FileKeyring([copy]))  # a bare file answers to its fingerprint
    offline = FileKeyring.from_setting(f"{version.key_id}={copy}")
    assert decrypt_bytes(backup, offline) == b"backup made with version 1"

    wrong = tmp_path / "other.hex"
    generate_key_file(wrong)
    with pytest.raises(WrongKeyError):
        decrypt_bytes(backup, FileKeyring([f"{version.key_id}={wrong}"]))


def test_secret_keys_are_cached_per_version() -> None:
    access = FakeSecretVersions(SECRET)
    access.add(os.urandom(32))
    keyring = SecretManagerKeyring(access, SECRET)
    key = keyring.current()
    assert keyring.get(key.key_id) is key
    assert keyring.get(key.key_id) is key
    assert access.calls == [f"{SECRET}/versions/latest"]


def test_secret_keyring_refuses_ids_of_other_sources_and_secrets() -> None:
    access = FakeSecretVersions(SECRET)
    access.add(os.urandom(32))
    keyring = SecretManagerKeyring(access, SECRET)
    for key_id in ["file:sha256:0011223344556677", "projects/p/secrets/other/versions/1"]:
        with pytest.raises(KeyNotFoundError, match=key_id):
            keyring.get(key_id)
    with pytest.raises(KeyNotFoundError, match="versions/7"):
        keyring.get(f"{SECRET}/versions/7")
    assert access.calls == [f"{SECRET}/versions/7"]


def test_secret_name_and_payload_are_checked() -> None:
    with pytest.raises(ConfigError, match="projects/P/secrets/NAME"):
        SecretManagerKeyring(FakeSecretVersions(SECRET), "backup-key")
    access = FakeSecretVersions(SECRET)
    access.add(b"not a key")
    with pytest.raises(ConfigError, match=r"secret version projects/123456/.*/versions/1"):
        SecretManagerKeyring(access, SECRET).current()


def test_static_keyring_current_is_the_last_and_lists_known_ids() -> None:
    keys = [Key("a", bytes(32)), Key("b", bytes(range(32)))]
    keyring = StaticKeyring(keys)
    assert keyring.current() is keys[1]
    assert keyring.get("a") is keys[0]
    with pytest.raises(KeyNotFoundError, match=r"key c is not available .*a, b"):
        keyring.get("c")
    with pytest.raises(ConfigError):
        StaticKeyring([])


def test_generate_command_prints_the_key_id_and_never_overwrites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "backup_encryption.key"
    assert main(["generate", str(path)]) == 0
    key = FileKeyring([path]).current()
    out = capsys.readouterr().out
    assert f"key id {key.key_id}" in out
    assert f"ENCRYPTION_KEY_FILE={path}" in out
    assert key.material.hex() not in out
    assert main(["generate", str(path)]) == RefusedError.exit_code
    assert "already exists" in capsys.readouterr().err
    assert FileKeyring([path]).current() == key


# --- keyring_for: the keyring the settings describe ---------------------------------------------


def test_keyring_for_key_files_only(tmp_path: Path) -> None:
    old, new = generate_key_file(tmp_path / "k1.key"), generate_key_file(tmp_path / "k2.key")
    files = (str(tmp_path / "k1.key"), str(tmp_path / "k2.key"))
    keyring = keyring_for(EncryptionSettings(key_files=files), None)
    assert isinstance(keyring, FileKeyring)
    assert keyring.current() == new
    assert keyring.get(old.key_id) == old


def test_keyring_for_secret_only() -> None:
    access = FakeSecretVersions(SECRET)
    access.add(os.urandom(32))
    keyring = keyring_for(EncryptionSettings(key_secret=SECRET), access)
    assert isinstance(keyring, SecretManagerKeyring)
    assert keyring.current().key_id == "projects/123456/secrets/backup-key/versions/1"


def test_keyring_for_neither_names_both_keys_and_how_to_make_a_key() -> None:
    with pytest.raises(ConfigError) as caught:
        keyring_for(EncryptionSettings(), None)
    message = str(caught.value)
    for part in ["ENCRYPTION_KEY_FILE", "ENCRYPTION_KEY_SECRET", "python -m shared.keys generate"]:
        assert part in message


def test_keyring_for_secret_without_secret_manager_access() -> None:
    with pytest.raises(ConfigError, match=f"ENCRYPTION_KEY_SECRET is set \\({SECRET}\\)"):
        keyring_for(EncryptionSettings(key_secret=SECRET), None)


def test_keyring_for_reads_key_files_at_once_even_with_a_secret(tmp_path: Path) -> None:
    access = FakeSecretVersions(SECRET)
    missing = tmp_path / "gone.key"
    settings = EncryptionSettings(key_files=(str(missing),), key_secret=SECRET)
    with pytest.raises(ConfigError, match=f"cannot read key file {missing}"):
        keyring_for(settings, access)
    assert access.calls == []


def test_migration_from_key_file_to_secret_manager(tmp_path: Path) -> None:
    path = tmp_path / "backup_encryption.key"
    file_key = generate_key_file(path)
    file_only = EncryptionSettings(key_files=(str(path),))
    old_backup = encrypt_bytes(b"made with the key file", keyring_for(file_only, None).current())

    access = FakeSecretVersions(SECRET)
    access.add(os.urandom(32).hex().encode())
    both = EncryptionSettings(key_files=(str(path),), key_secret=SECRET)
    keyring = keyring_for(both, access)
    assert isinstance(keyring, MigratingKeyring)
    secret_key = keyring.current()
    assert secret_key.key_id == "projects/123456/secrets/backup-key/versions/1"
    new_backup = encrypt_bytes(b"made with the secret", secret_key)
    calls = len(access.calls)
    assert decrypt_bytes(old_backup, keyring) == b"made with the key file"
    assert len(access.calls) == calls  # a file key's id never goes to Secret Manager

    access.add(base64.b64encode(os.urandom(32)))  # the secret rotates later
    restarted = keyring_for(both, access)
    assert restarted.current().key_id.endswith("/versions/2")
    assert decrypt_bytes(new_backup, restarted) == b"made with the secret"
    assert decrypt_bytes(old_backup, restarted) == b"made with the key file"

    # Unlisting the file while its backups are kept: the error names the missing key.
    secret_only = keyring_for(EncryptionSettings(key_secret=SECRET), access)
    with pytest.raises(KeyNotFoundError, match=file_key.key_id):
        decrypt_bytes(old_backup, secret_only)


def test_migrating_keyring_sends_each_id_to_its_source(tmp_path: Path) -> None:
    file_key = generate_key_file(tmp_path / "k.key")
    access = FakeSecretVersions(SECRET)
    access.add(os.urandom(32))
    settings = EncryptionSettings(key_files=(str(tmp_path / "k.key"),), key_secret=SECRET)
    keyring = keyring_for(settings, access)
    with pytest.raises(KeyNotFoundError, match=f"configured keys: {file_key.key_id}"):
        keyring.get("file:sha256:0011223344556677")
    with pytest.raises(KeyNotFoundError, match=f"not a version of secret {SECRET}"):
        keyring.get("projects/p/secrets/other/versions/1")
    assert access.calls == []


def test_migration_with_the_official_secret_manager_client(
    secret_manager: SecretManagerStandIn, secret_manager_client: Any, tmp_path: Path
) -> None:
    """The operator's path: the old scripts' key file, a new key generated and put in a secret."""
    old_path, new_path = tmp_path / "backup_encryption.key", tmp_path / "new.key"
    old_path.write_bytes(base64.b64encode(os.urandom(32)) + b"\n")  # `openssl rand -base64 32`
    old_backup = encrypt_bytes(b"from the shell scripts", FileKeyring([old_path]).current())
    generated = subprocess.run(
        [sys.executable, "-m", "shared.keys", "generate", str(new_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "key id file:sha256:" in generated.stdout
    secret = secret_manager_client.create_secret(
        request={
            "parent": f"projects/{secret_manager.project}",
            "secret_id": f"backup-key-{uuid.uuid4().hex[:8]}",
            "secret": {"replication": {"automatic": {}}},
        }
    )
    secret_manager_client.add_secret_version(
        request={"parent": secret.name, "payload": {"data": new_path.read_bytes()}}
    )

    access = secret_access(Endpoints(secret_manager=secret_manager.url))
    settings = EncryptionSettings(key_files=(str(old_path),), key_secret=secret.name)
    keyring = keyring_for(settings, access)
    assert keyring.current().key_id == f"{secret.name}/versions/1"
    assert keyring.current().material == FileKeyring([new_path]).current().material
    new_backup = encrypt_bytes(b"from Secret Manager", keyring.current())
    fresh = keyring_for(settings, access)
    assert decrypt_bytes(old_backup, fresh) == b"from the shell scripts"
    assert decrypt_bytes(new_backup, fresh) == b"from Secret Manager"
