"""The CredentialStore contract, run against every store."""

from __future__ import annotations

import anyio
import psycopg
import pytest
from credential_stores import KEY, POSTGRES_DSN, reopened

from linkflow_engine import CredentialError, ExecutionNotFoundError, WorkflowValidationError
from linkflow_engine.credentials import CredentialCipher, CredentialStore, MemoryCredentialStore
from linkflow_engine.credentials.postgres import PostgresCredentialStore
from linkflow_engine.credentials.sqlite import SQLiteCredentialStore

SECRET = "sk-live-4f9a8b7c6d5e"


async def test_create_then_get_returns_the_data(store: CredentialStore) -> None:
    """A created credential comes back with its decrypted data, id and timestamps."""
    created = await store.create(name="Stripe", type="api_key", data={"apiKey": SECRET})
    got = await store.get(created.id)
    assert got.id.startswith("cred-")
    assert (got.name, got.type, dict(got.data or {})) == ("Stripe", "api_key", {"apiKey": SECRET})
    assert got.created_at == created.created_at and got.updated_at


async def test_create_with_an_id_keeps_it(store: CredentialStore) -> None:
    """An explicit id is used as given."""
    await store.create(name="n", type="bearer_token", data={"token": "t0k3n"}, id="github")
    assert (await store.get("github")).data == {"token": "t0k3n"}


async def test_an_id_in_use_is_refused(store: CredentialStore) -> None:
    """Creating a second credential with an existing id raises VALIDATION_ERROR."""
    await store.create(name="a", type="custom", data={}, id="same")
    with pytest.raises(WorkflowValidationError, match="exists already"):
        await store.create(name="b", type="custom", data={}, id="same")


@pytest.mark.parametrize(
    ("type", "data", "field"),
    [
        ("password", {}, "type"),
        ("api_key", {}, "data.apiKey"),
        ("basic_auth", {"username": "u"}, "data.password"),
        ("oauth2", {"tokenUrl": "https://x", "clientId": "c"}, "data.clientSecret"),
        ("custom", ["not", "an", "object"], "data"),
    ],
)
async def test_invalid_types_and_data_are_refused(
    store: CredentialStore, type: str, data: object, field: str
) -> None:
    """An unknown type or data missing its type's fields raises VALIDATION_ERROR naming it."""
    with pytest.raises(WorkflowValidationError) as caught:
        await store.create(name="x", type=type, data=data)  # type: ignore[arg-type]
    assert field in [d["field"] for d in caught.value.details]


async def test_list_is_sorted_and_carries_no_data(store: CredentialStore) -> None:
    """list() returns every credential by name, without data."""
    await store.create(name="b", type="bearer_token", data={"token": "x1"}, id="2")
    await store.create(name="a", type="custom", data={"k": "v"}, id="1")
    listed = await store.list()
    assert [(c.id, c.name, c.data) for c in listed] == [("1", "a", None), ("2", "b", None)]


async def test_update_replaces_name_and_data(store: CredentialStore) -> None:
    """update() changes the name and the (validated) data and keeps the type."""
    created = await store.create(name="old", type="bearer_token", data={"token": "one"})
    updated = await store.update(created.id, name="new", data={"token": "two"})
    assert (updated.name, updated.type, updated.data) == ("new", "bearer_token", {"token": "two"})
    assert (await store.get(created.id)).data == {"token": "two"}
    with pytest.raises(WorkflowValidationError):
        await store.update(created.id, data={"nope": 1})


async def test_delete_removes_it(store: CredentialStore) -> None:
    """A deleted credential is gone: get, update and delete raise NOT_FOUND."""
    created = await store.create(name="n", type="custom", data={})
    await store.delete(created.id)
    with pytest.raises(ExecutionNotFoundError, match="credential"):
        await store.get(created.id)
    with pytest.raises(ExecutionNotFoundError):
        await store.update(created.id, name="x")
    with pytest.raises(ExecutionNotFoundError):
        await store.delete(created.id)


async def test_returned_data_is_a_copy(store: CredentialStore) -> None:
    """Mutating returned data does not change the stored credential."""
    created = await store.create(name="n", type="custom", data={"nested": {"a": "1"}})
    got = await store.get(created.id)
    got.data["nested"]["a"] = "changed"  # type: ignore[index]
    assert (await store.get(created.id)).data == {"nested": {"a": "1"}}


async def test_masked_form_hides_every_value(store: CredentialStore) -> None:
    """masked() shows the data's keys with *** values, never the values."""
    created = await store.create(
        name="n", type="basic_auth", data={"username": "u", "password": "p"}
    )
    masked = created.masked()
    assert masked["data"] == {"username": "***", "password": "***"}
    assert "p" not in masked["data"].values()


async def test_data_is_encrypted_at_rest(store: CredentialStore) -> None:
    """The stored row holds ciphertext: the secret is nowhere in the database."""
    if isinstance(store, MemoryCredentialStore):
        pytest.skip("memory keeps nothing at rest")
    await store.create(name="n", type="api_key", data={"apiKey": SECRET}, id="c")
    if isinstance(store, SQLiteCredentialStore):
        await store.aclose()
        content = await anyio.Path(store.path).read_bytes()
        assert SECRET.encode() not in content
    else:
        assert isinstance(store, PostgresCredentialStore)
        with psycopg.connect(POSTGRES_DSN) as connection:
            row = connection.execute(f'SELECT data FROM "{store.schema}".credentials').fetchone()
        assert row is not None and SECRET not in row[0]


async def test_a_wrong_key_gives_a_clear_error(store: CredentialStore) -> None:
    """Reading with another key raises CredentialError 'cannot decrypt', never garbage."""
    if isinstance(store, MemoryCredentialStore):
        pytest.skip("memory encrypts nothing")
    await store.create(name="n", type="api_key", data={"apiKey": SECRET}, id="c")
    other = reopened(store, CredentialCipher.generate_key())
    try:
        with pytest.raises(CredentialError, match="cannot decrypt credential 'c'") as caught:
            await other.get("c")
        assert caught.value.code == "CREDENTIAL_ERROR"
        assert [c.id for c in await other.list()] == ["c"]  # listing needs no key
    finally:
        await other.aclose()


async def test_rotated_keys_still_decrypt(store: CredentialStore) -> None:
    """With 'new,old' keys, data encrypted with the old key still reads."""
    if isinstance(store, MemoryCredentialStore):
        pytest.skip("memory encrypts nothing")
    await store.create(name="n", type="bearer_token", data={"token": "tok"}, id="c")
    rotated = reopened(store, KEY)
    rotated._cipher = CredentialCipher(CredentialCipher.generate_key(), KEY)  # type: ignore[attr-defined]
    try:
        assert (await rotated.get("c")).data == {"token": "tok"}
    finally:
        await rotated.aclose()


async def test_a_store_reconnects_after_aclose(store: CredentialStore) -> None:
    """After aclose() the store opens again on the next call."""
    created = await store.create(name="n", type="custom", data={"a": "b"})
    await store.aclose()
    assert (await store.get(created.id)).data == {"a": "b"}
