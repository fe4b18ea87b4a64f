"""Where the encryption key comes from, and what a bad key does."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from linkflow_engine import CredentialError
from linkflow_engine.credentials import CredentialCipher, default_key_file


def test_the_key_file_is_created_on_first_use_with_mode_0600(key_file: Path) -> None:
    """Without LINKFLOW_ENCRYPTION_KEY, a key file is created (0600) and reused."""
    assert not key_file.exists()
    first = CredentialCipher.from_environment()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    token = first.encrypt({"a": "b"})
    assert CredentialCipher.from_environment().decrypt(token, "c") == {"a": "b"}


def test_the_default_key_file_is_under_the_config_directory(tmp_path: Path) -> None:
    """Without LINKFLOW_KEY_FILE the key file is $XDG_CONFIG_HOME/linkflow/encryption.key."""
    path = default_key_file({"XDG_CONFIG_HOME": str(tmp_path)})
    assert path == tmp_path / "linkflow" / "encryption.key"


def test_the_environment_key_wins(key_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """LINKFLOW_ENCRYPTION_KEY is used as is and no key file is created."""
    key = CredentialCipher.generate_key()
    monkeypatch.setenv("LINKFLOW_ENCRYPTION_KEY", key)
    token = CredentialCipher.from_environment().encrypt({"x": 1})
    assert CredentialCipher(key).decrypt(token, "c") == {"x": 1}
    assert not key_file.exists()


def test_an_invalid_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed key raises CredentialError naming where it came from."""
    monkeypatch.setenv("LINKFLOW_ENCRYPTION_KEY", "not-a-key")
    with pytest.raises(CredentialError, match="LINKFLOW_ENCRYPTION_KEY is not a valid Fernet key"):
        CredentialCipher.from_environment()


def test_another_key_cannot_decrypt() -> None:
    """Data encrypted with one key raises 'cannot decrypt' with another."""
    token = CredentialCipher(CredentialCipher.generate_key()).encrypt({"a": "b"})
    with pytest.raises(CredentialError, match="cannot decrypt credential 'c1'"):
        CredentialCipher(CredentialCipher.generate_key()).decrypt(token, "c1")
