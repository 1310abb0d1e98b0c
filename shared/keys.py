"""Key sources: local key files (the guide's ENCRYPTION_KEY_FILE) and Secret Manager.

A key is 32 random bytes. Both sources accept it in the same three forms,
so ``openssl rand -hex 32`` and ``openssl rand -base64 32`` both make one:

* 64 hexadecimal characters,
* 44 characters of standard base64 (RFC 4648, with its ``=`` padding),
* exactly 32 raw bytes (the whole file or payload, nothing around it).

Text forms may carry surrounding whitespace (a trailing newline). Rotation is
the same in both: new backups use the newest key, and every stream names its
key in its header, so older backups still find theirs.

``python -m shared.keys generate PATH`` makes a key file.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from shared.crypto_format import KEY_SIZE, Key
from shared.errors import ConfigError, DRError, KeyNotFoundError, RefusedError

if TYPE_CHECKING:
    from shared.config import EncryptionSettings
    from shared.crypto import Keyring
    from shared.settings_source import SecretAccess

FILE_KEY_PREFIX = "file:sha256:"
ACCEPTED_FORMS = "64 hex characters, 44 base64 characters or exactly 32 raw bytes"
_MAX_KEY_FILE_SIZE = 4096
_HEX = re.compile(rb"[0-9a-fA-F]{64}")
_BASE64 = re.compile(rb"[A-Za-z0-9+/]{43}=")
_SECRET = re.compile(r"projects/[^/]+/secrets/([^/]+)")
_VERSION = re.compile(r"projects/[^/]+/secrets/([^/]+)/versions/[0-9]+")
_NAMED_FILE = re.compile(r"(projects/[^/=]+/secrets/[^/=]+/versions/[0-9]+)=(.+)")


def parse_key(data: bytes, where: str) -> bytes:
    """The 32 key bytes in ``data``; ConfigError naming ``where``, never the content."""
    if len(data) == KEY_SIZE:
        return data
    text = data.strip()
    if _HEX.fullmatch(text):
        return bytes.fromhex(text.decode())
    if _BASE64.fullmatch(text):
        return base64.b64decode(text, validate=True)
    raise ConfigError(f"{where} does not hold a key: expected {ACCEPTED_FORMS}")


def fingerprint(material: bytes) -> str:
    """The key id of a file key: a domain-separated SHA-256 prefix, safe to record."""
    digest = hashlib.sha256(b"eyewearml-dr key fingerprint\x00" + material).hexdigest()
    return f"{FILE_KEY_PREFIX}{digest[:16]}"


class StaticKeyring:
    """A fixed list of keys, oldest first: the last is current, any is found by id."""

    def __init__(self, keys: Iterable[Key]) -> None:
        self._keys = list(keys)
        if not self._keys:
            raise ConfigError("no encryption key configured")
        self._by_id = {key.key_id: key for key in self._keys}

    def current(self) -> Key:
        return self._keys[-1]

    def get(self, key_id: str) -> Key:
        try:
            return self._by_id[key_id]
        except KeyError:
            known = ", ".join(self._by_id)
            raise KeyNotFoundError(
                f"encryption key {key_id} is not available (configured keys: {known})"
            ) from None


def key_file_entry(entry: str) -> tuple[str | None, Path]:
    """``PATH``, or ``projects/P/secrets/S/versions/N=PATH`` for an offline copy of a version.

    A stream names the key that encrypted it; a Secret Manager version's copy
    kept in a file must answer to that version's name, not to the file's
    fingerprint, or the backups it protects would not find it.
    """
    named = _NAMED_FILE.fullmatch(entry.strip())
    if named is None:
        return None, Path(entry.strip())
    return named[1], Path(named[2])


def _read_key_file(entry: str | os.PathLike[str]) -> Key:
    key_id, path = key_file_entry(str(entry))
    try:
        with path.open("rb") as stream:
            data = stream.read(_MAX_KEY_FILE_SIZE + 1)
    except OSError as error:
        raise ConfigError(f"cannot read key file {path}: {error.strerror}") from None
    material = parse_key(data, f"key file {path}")
    return Key(key_id or fingerprint(material), material)


class FileKeyring(StaticKeyring):
    """Keys read from files, oldest first; read once, at construction.

    Rotation: list the new file last and keep the old ones listed for as long
    as backups made with them are kept. An entry ``VERSION=PATH`` is the
    offline copy of a Secret Manager version (:func:`key_file_entry`).
    """

    def __init__(self, paths: Iterable[str | os.PathLike[str]]) -> None:
        super().__init__(_read_key_file(path) for path in paths)

    @classmethod
    def from_setting(cls, value: str) -> FileKeyring:
        """From ENCRYPTION_KEY_FILE: one path or a comma-separated list, oldest first."""
        paths = [part.strip() for part in value.split(",") if part.strip()]
        if not paths:
            raise ConfigError("ENCRYPTION_KEY_FILE names no key file")
        return cls(paths)


def generate_key_file(path: str | os.PathLike[str]) -> Key:
    """Write a new random key as hex to a new file readable by its owner only.

    Never overwrites: replacing a key file would make every backup made with
    it unreadable.
    """
    material = os.urandom(KEY_SIZE)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise RefusedError(f"key file {path} already exists; refusing to overwrite a key") from None
    except OSError as error:
        raise ConfigError(f"cannot create key file {path}: {error.strerror}") from None
    try:
        with os.fdopen(descriptor, "w") as stream:
            stream.write(material.hex() + "\n")
    except OSError as error:
        os.unlink(path)
        raise ConfigError(f"cannot write key file {path}: {error.strerror}") from None
    return Key(fingerprint(material), material)


class SecretManagerKeyring:
    """Keys held as versions of one Secret Manager secret.

    ``access(version_name)`` resolves a version name (``.../versions/latest``
    or ``.../versions/N``) to the full name of that version and its payload,
    raising KeyNotFoundError if it does not exist or is not enabled. A key's
    id is its full version name, so rotation is adding a secret version.
    Accessed keys are cached; ``current()`` asks again each time so a
    long-lived instance picks up a rotation.
    """

    def __init__(self, access: SecretAccess, secret: str) -> None:
        match = _SECRET.fullmatch(secret)
        if match is None:
            raise ConfigError(f"secret {secret!r} is not of the form projects/P/secrets/NAME")
        self._access = access
        self._secret = secret
        self._name = match.group(1)
        self._cache: dict[str, Key] = {}

    def current(self) -> Key:
        return self._load(f"{self._secret}/versions/latest")

    def get(self, key_id: str) -> Key:
        if key_id in self._cache:
            return self._cache[key_id]
        match = _VERSION.fullmatch(key_id)
        if match is None or match.group(1) != self._name:
            raise KeyNotFoundError(
                f"encryption key {key_id} is not a version of secret {self._secret}"
            )
        return self._load(key_id)

    def _load(self, version: str) -> Key:
        name, payload = self._access(version)
        key = self._cache.get(name)
        if key is None:
            key = Key(name, parse_key(payload, f"secret version {name}"))
            self._cache[name] = key
        return key


class MigratingKeyring:
    """A Secret Manager secret's keys, plus the key files it replaces.

    New backups use the secret's newest version. A stream's key id says which
    source holds its key (``file:sha256:...`` or ``projects/.../versions/N``),
    so backups made with the old files still restore after the move, for as
    long as the files stay listed in ENCRYPTION_KEY_FILE, and looking one up
    never calls Secret Manager.
    """

    def __init__(self, secret: SecretManagerKeyring, files: FileKeyring) -> None:
        self._secret = secret
        self._files = files

    def current(self) -> Key:
        return self._secret.current()

    def get(self, key_id: str) -> Key:
        if key_id.startswith(FILE_KEY_PREFIX):
            return self._files.get(key_id)
        return self._secret.get(key_id)


def keyring_for(settings: EncryptionSettings, access: SecretAccess | None) -> Keyring:
    """The keyring ENCRYPTION_KEY_FILE and ENCRYPTION_KEY_SECRET describe.

    Key files are read now, so a bad path fails before any work; the secret is
    read on first use. ``access`` (``shared.clients.secret_access()``) is
    needed only when a secret is set. Both set is the migration from files to
    Secret Manager: see :class:`MigratingKeyring`.
    """
    files = FileKeyring(settings.key_files) if settings.key_files else None
    if not settings.key_secret:
        if files is None:
            raise ConfigError(
                "no encryption key configured: set ENCRYPTION_KEY_FILE to a key file "
                "(create one with `python -m shared.keys generate PATH`) or "
                "ENCRYPTION_KEY_SECRET to a Secret Manager secret holding a key "
                "(projects/P/secrets/NAME)"
            )
        return files
    if access is None:
        raise ConfigError(
            f"ENCRYPTION_KEY_SECRET is set ({settings.key_secret}) but Secret Manager "
            "is not available here; use ENCRYPTION_KEY_FILE instead"
        )
    secret = SecretManagerKeyring(access, settings.key_secret)
    return secret if files is None else MigratingKeyring(secret, files)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m shared.keys generate PATH``: an operator's way to make a key."""
    parser = argparse.ArgumentParser(
        prog="python -m shared.keys", description="Encryption keys for backups."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser(
        "generate", help="write a new random key, as hex, to a new file readable by its owner"
    )
    generate.add_argument("path", help="the key file to create (never overwritten)")
    args = parser.parse_args(argv)
    try:
        key = generate_key_file(args.path)
    except DRError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    print(
        f"wrote a new key to {args.path} (key id {key.key_id} as a key file)\n"
        "Keep a copy somewhere safe: backups made with it cannot be restored without it.\n"
        f"Use it with ENCRYPTION_KEY_FILE={args.path}, or store it in Secret Manager:\n"
        f"  gcloud secrets create NAME --data-file={args.path}        (a new secret)\n"
        f"  gcloud secrets versions add NAME --data-file={args.path}  (a rotation)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
