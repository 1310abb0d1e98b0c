"""Key sources: key files and Secret Manager versions, and rotation across both."""

from __future__ import annotations

import base64
import io
import os
import stat
from pathlib import Path

import pytest

from shared.crypto import Key, decrypt_bytes, encrypt_bytes, read_header
from shared.errors import ConfigError, KeyNotFoundError, RefusedError
from shared.keys import (
    FileKeyring,
    SecretManagerKeyring,
    StaticKeyring,
    fingerprint,
    generate_key_file,
    parse_key,
)

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
