"""The PostgreSQL schema, as numbered migrations applied in order on open.

JSON columns are ``json``, not ``jsonb``: nothing queries inside them, ``json`` keeps the keys
in the order they were written (a stored workflow document or node output comes back as it went
in) and accepts every string, where ``jsonb`` rejects ``\\u0000``. Large values are TOASTed
out of line, so metadata reads never load them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._sql import check_schema_version

if TYPE_CHECKING:
    import psycopg

__all__ = ["MIGRATIONS", "migrate"]

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE workflows (
            id text NOT NULL, version integer NOT NULL, name text NOT NULL,
            status text NOT NULL, created_at text, updated_at text, document json NOT NULL,
            PRIMARY KEY (id, version))""",
        """CREATE TABLE executions (
            id text PRIMARY KEY, workflow_id text, workflow_name text, status text NOT NULL,
            mode text NOT NULL, created_at double precision NOT NULL,
            started_at double precision, finished_at double precision,
            cancelled_at double precision, error json, retry_count integer NOT NULL DEFAULT 0,
            original_execution_id text, triggered_by text, options json,
            input_data json, workflow json, outputs json)""",
        "CREATE INDEX executions_created ON executions (created_at) "
        "INCLUDE (status, started_at, finished_at)",
        "CREATE INDEX executions_workflow ON executions (workflow_id, created_at) "
        "INCLUDE (status, started_at, finished_at)",
        "CREATE INDEX executions_workflow_status ON executions (workflow_id, status, created_at)",
        "CREATE INDEX executions_status ON executions (status, created_at)",
        "CREATE INDEX executions_mode ON executions (mode, created_at)",
        """CREATE TABLE node_executions (
            execution_id text NOT NULL, node_id text NOT NULL, node_name text NOT NULL,
            sequence integer NOT NULL, status text NOT NULL, started_at double precision,
            finished_at double precision, error json, attempts integer NOT NULL,
            iteration integer, port text, reused boolean NOT NULL, source_execution_id text,
            input json, output json, PRIMARY KEY (execution_id, sequence))""",
        """CREATE TABLE logs (
            id bigserial PRIMARY KEY, execution_id text NOT NULL,
            timestamp double precision NOT NULL, level text NOT NULL, message text NOT NULL,
            node_id text, data json)""",
        "CREATE INDEX logs_execution ON logs (execution_id, id)",
        """CREATE TABLE events (
            execution_id text NOT NULL, sequence integer NOT NULL, data json NOT NULL,
            PRIMARY KEY (execution_id, sequence))""",
        """CREATE TABLE leases (
            execution_id text PRIMARY KEY, owner text, fence bigint NOT NULL,
            expires_at double precision NOT NULL)""",
        """CREATE TABLE schedule_fires (
            workflow_id text NOT NULL, node_id text NOT NULL, scheduled_ms bigint NOT NULL,
            execution_id text, recorded_at double precision NOT NULL,
            PRIMARY KEY (workflow_id, node_id, scheduled_ms))""",
        """CREATE TABLE webhook_deliveries (
            id text PRIMARY KEY, execution_id text NOT NULL, url text NOT NULL,
            body text NOT NULL, attempts integer NOT NULL,
            next_attempt_at double precision NOT NULL, status text NOT NULL, last_error text)""",
        "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at)",
    ),
    # 2: credentials; ``data`` is the Fernet token of the JSON data (encrypted at rest).
    (
        """CREATE TABLE credentials (
            id text PRIMARY KEY, name text NOT NULL, type text NOT NULL,
            created_at text NOT NULL, updated_at text NOT NULL, data text NOT NULL)""",
    ),
    # 3: webhooks (``authentication`` is the Fernet token of its JSON: secrets at rest are
    # encrypted) and the newest requests each one answered.
    (
        """CREATE TABLE webhooks (
            id text PRIMARY KEY, workflow_id text NOT NULL, node_id text, source text NOT NULL,
            name text NOT NULL, path text NOT NULL UNIQUE, method text NOT NULL,
            is_active boolean NOT NULL, response_mode text NOT NULL, response_code integer,
            created_at text NOT NULL, updated_at text NOT NULL, last_triggered text,
            trigger_count integer NOT NULL DEFAULT 0, settings text NOT NULL,
            authentication text NOT NULL)""",
        "CREATE INDEX webhooks_workflow ON webhooks (workflow_id, created_at)",
        """CREATE TABLE webhook_logs (
            id bigserial PRIMARY KEY, webhook_id text NOT NULL, timestamp text NOT NULL,
            method text NOT NULL, status integer NOT NULL, execution_id text, error text,
            ip text)""",
        "CREATE INDEX webhook_logs_webhook ON webhook_logs (webhook_id, id)",
    ),
    # 4: nothing to change in the tables, but node.started and node.completed events are now
    # kept with their node run's number in place of their payload (made from the run when
    # read); a version that does not know that refuses the schema instead of replaying them
    # without payloads.
    (),
    # 5: deliveries may now start a failure's error workflows (address linkflow:error-workflows),
    # which a version that does not know them would give up as an unsendable URL. A node run
    # keeps the deadlines of its durable sleeps (``timers``).
    ("ALTER TABLE node_executions ADD COLUMN timers json",),
    # 6: nothing to change in the tables, but a cancel now stores a delivery that writes the
    # cancelled execution's end when its run is gone (address linkflow:cancel-end), which a
    # version that does not know it would give up as an unsendable URL.
    (),
)

# Any fixed number: it serialises the engines that open one schema at the same moment.
_MIGRATION_LOCK = 0x6C696E6B


async def migrate(connection: psycopg.AsyncConnection[tuple[object, ...]], schema: str) -> None:
    """Create ``schema`` if needed and bring it up to date in one transaction; refuse a newer
    schema version, changing nothing."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        await connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await connection.execute(
            f'CREATE TABLE IF NOT EXISTS "{schema}".schema_version (version integer NOT NULL)'
        )
        cursor = await connection.execute(f'SELECT version FROM "{schema}".schema_version')
        row = await cursor.fetchone()
        found = int(str(row[0])) if row else 0
        check_schema_version(found, len(MIGRATIONS), f"PostgreSQL schema {schema!r}")
        for statements in MIGRATIONS[found:]:
            for statement in statements:
                await connection.execute(statement)
        if row is None:
            await connection.execute(
                f'INSERT INTO "{schema}".schema_version VALUES (%s)', (len(MIGRATIONS),)
            )
        elif found < len(MIGRATIONS):
            await connection.execute(
                f'UPDATE "{schema}".schema_version SET version = %s', (len(MIGRATIONS),)
            )
