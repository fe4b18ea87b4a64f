"""Encryption at rest: Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``).

The key comes from ``LINKFLOW_ENCRYPTION_KEY`` (one Fernet key, or several separated by commas:
the first encrypts, all decrypt, which is how a key is rotated). Without it, a key file is used,
created on first use with mode 0600: ``LINKFLOW_KEY_FILE``, or
``$XDG_CONFIG_HOME/linkflow/encryption.key`` (``~/.config/linkflow/encryption.key``). The key is
kept apart from the database on purpose: a copied database file alone reveals nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._exceptions import CredentialError

if TYPE_CHECKING:
    from cryptography.fernet import MultiFernet

__all__ = ["CredentialCipher", "default_key_file"]

KEY_ENV = "LINKFLOW_ENCRYPTION_KEY"
KEY_FILE_ENV = "LINKFLOW_KEY_FILE"


def default_key_file(env: Mapping[str, str] | None = None) -> Path:
    """Where the key file is when ``LINKFLOW_ENCRYPTION_KEY`` is not set."""
    env = os.environ if env is None else env
    if env.get(KEY_FILE_ENV):
        return Path(env[KEY_FILE_ENV]).expanduser()
    config = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(config) / "linkflow" / "encryption.key"


class CredentialCipher:
    """Encrypts credential data to text and back; a wrong key raises CredentialError.

    ``CredentialCipher(key)`` with explicit keys (the first one encrypts), or
    :meth:`from_environment` for the documented lookup.
    """

    def __init__(self, *keys: str | bytes, source: str = "the given key") -> None:
        if not keys:
            raise ValueError("CredentialCipher needs at least one key")
        self.source = source
        self._fernet = _fernet(keys, source)

    def __repr__(self) -> str:
        return f"CredentialCipher(source={self.source!r})"

    @staticmethod
    def generate_key() -> str:
        """A new random key, as ``LINKFLOW_ENCRYPTION_KEY`` expects it."""
        from cryptography.fernet import Fernet

        return Fernet.generate_key().decode("ascii")

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> CredentialCipher:
        """The key of ``LINKFLOW_ENCRYPTION_KEY``, else of the key file (created if missing)."""
        env = os.environ if env is None else env
        if env.get(KEY_ENV):
            keys = [k.strip() for k in env[KEY_ENV].split(",") if k.strip()]
            return cls(*keys, source=KEY_ENV)
        path = default_key_file(env)
        return cls(_read_or_create_key(path), source=str(path))

    def encrypt(self, data: Mapping[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(dict(data)).encode("utf-8")).decode("ascii")

    def decrypt(self, token: str, credential_id: str) -> dict[str, Any]:
        """The data of ``credential_id``; CredentialError when this key did not encrypt it."""
        from cryptography.fernet import InvalidToken

        try:
            plain = self._fernet.decrypt(token.encode("ascii"))
        except (InvalidToken, ValueError):
            raise CredentialError(
                f"cannot decrypt credential {credential_id!r}: it was encrypted with another key"
                f" than the one from {self.source} (check {KEY_ENV} or the key file)",
                details={"credentialId": credential_id},
            ) from None
        data: dict[str, Any] = json.loads(plain)
        return data


def _fernet(keys: tuple[str | bytes, ...], source: str) -> MultiFernet:
    from cryptography.fernet import Fernet, MultiFernet

    try:
        return MultiFernet([Fernet(key) for key in keys])
    except (ValueError, TypeError):
        raise CredentialError(
            f"the encryption key from {source} is not a valid Fernet key (32 url-safe base64"
            " bytes; make one with: python -c 'from cryptography.fernet import Fernet;"
            " print(Fernet.generate_key().decode())')"
        ) from None


def _read_or_create_key(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = CredentialCipher.generate_key()
    try:
        # O_EXCL: when two processes race to create the file, one writes and both use its key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(key + "\n")
    return key
