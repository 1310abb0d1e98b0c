"""``openssl enc -aes-256-cbc`` as the old scripts used it: salted, passphrase from a file.

The file starts with ``Salted__`` and an 8-byte salt; key and IV come from
the passphrase and the salt by one of the derivations ``openssl enc`` has
offered, and the ciphertext is AES-256-CBC with PKCS#7 padding:

* ``pbkdf2``: ``-pbkdf2`` (PBKDF2-HMAC-SHA256, 10,000 iterations, OpenSSL 1.1.1+);
* ``md5``: ``-md md5`` without ``-pbkdf2`` (``EVP_BytesToKey`` with MD5, one
  round): the default before OpenSSL 1.1.0, so most old scripts' files;
* ``sha256``: neither flag on OpenSSL 1.1.0+ (``EVP_BytesToKey`` with SHA-256).

Nothing in the file says which one was used, so each is tried on the first
kilobyte and the one whose plaintext is a known format wins (see
:mod:`.layers`); a wrong key matches none. The passphrase is read as
``-pass file:PATH`` reads it: the file's first line, without its newline.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from shared.crypto import Readable
from shared.errors import ConfigError, IntegrityError, TruncatedDataError, WrongKeyError
from shared.legacy.chunks import ChunkSource

MAGIC = b"Salted__"
SALT_SIZE = 8
BLOCK = 16
KEY_SIZE, IV_SIZE = 32, 16
PBKDF2_ITERATIONS = 10_000
MAX_PASSPHRASE = 1023  # openssl reads at most this much of the line
KEY_ID_PREFIX = "openssl-pass:sha256:"
DERIVATIONS = ("pbkdf2", "md5", "sha256")
READ_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Passphrase:
    """One key file's passphrase; ``key_id`` is safe to record (a salted-hash prefix)."""

    path: str
    secret: bytes

    @property
    def key_id(self) -> str:
        digest = hashlib.sha256(b"eyewearml-dr openssl passphrase\x00" + self.secret).hexdigest()
        return KEY_ID_PREFIX + digest[:16]


def read_passphrase(path: str) -> Passphrase:
    """The passphrase ``openssl enc -pass file:PATH`` uses: the first line, newline removed."""
    try:
        with Path(path).open("rb") as stream:
            line = stream.readline(MAX_PASSPHRASE + 1)
    except OSError as error:
        raise ConfigError(f"cannot read key file {path}: {error.strerror}") from None
    secret = line.split(b"\n", 1)[0][:MAX_PASSPHRASE]
    if not secret:
        raise ConfigError(f"key file {path} is empty: openssl would use no passphrase")
    return Passphrase(path, secret)


def derive(passphrase: bytes, salt: bytes, derivation: str) -> tuple[bytes, bytes]:
    """Key and IV as ``openssl enc`` derives them (see the module docstring)."""
    if derivation == "pbkdf2":
        material = hashlib.pbkdf2_hmac(
            "sha256", passphrase, salt, PBKDF2_ITERATIONS, KEY_SIZE + IV_SIZE
        )
    else:
        material, block = b"", b""
        while len(material) < KEY_SIZE + IV_SIZE:
            block = hashlib.new(derivation, block + passphrase + salt).digest()
            material += block
    return material[:KEY_SIZE], material[KEY_SIZE : KEY_SIZE + IV_SIZE]


@dataclass(frozen=True)
class Match:
    """The passphrase and derivation that decrypt a file."""

    passphrase: Passphrase
    derivation: str


def find_key(
    salt: bytes,
    head: bytes,
    passphrases: Sequence[Passphrase],
    recognised: Callable[[bytes], bool],
    where: str,
) -> Match:
    """The (passphrase, derivation) whose decryption of ``head`` is ``recognised``."""
    if not passphrases:
        raise ConfigError(
            f"{where} is encrypted with openssl enc: give its key file (--key-file, or "
            "ENCRYPTION_KEY_FILE as the old scripts had it)"
        )
    usable = head[: len(head) - len(head) % BLOCK]
    for passphrase in passphrases:
        for derivation in DERIVATIONS:
            key, iv = derive(passphrase.secret, salt, derivation)
            decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
            if recognised(decryptor.update(usable)):
                return Match(passphrase, derivation)
    files = ", ".join(p.path for p in passphrases)
    raise WrongKeyError(
        f"{where}: wrong key: openssl-encrypted, but no passphrase in {files} decrypts it "
        f"(tried the derivations {', '.join(DERIVATIONS)})"
    )


class Decrypting(ChunkSource):
    """The plaintext of a salted ``openssl enc -aes-256-cbc`` stream (header already read)."""

    def __init__(self, source: Readable, salt: bytes, match: Match, where: str) -> None:
        super().__init__()
        key, iv = derive(match.passphrase.secret, salt, match.derivation)
        self._source = source
        self._decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
        self._unpadder = padding.PKCS7(BLOCK * 8).unpadder()
        self._where = where
        self._length = 0
        self._finished = False

    def next_chunk(self) -> bytes:
        if self._finished:
            return b""
        while chunk := self._source.read(READ_CHUNK):
            self._length += len(chunk)
            if plain := self._unpadder.update(self._decryptor.update(chunk)):
                return plain
        self._finished = True
        if self._length % BLOCK:
            raise TruncatedDataError(
                f"{self._where}: the encrypted data ends mid-block ({self._length} bytes after "
                "the salt): the file was cut short"
            )
        try:
            return self._unpadder.update(self._decryptor.finalize()) + self._unpadder.finalize()
        except ValueError:
            raise IntegrityError(
                f"{self._where}: the encrypted data does not end with valid padding: the file "
                "was cut short or damaged"
            ) from None
