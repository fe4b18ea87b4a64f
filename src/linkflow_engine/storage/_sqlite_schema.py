"""The SQLite schema, as numbered migrations applied in order on open.

Timestamps are epoch seconds (REAL, exact to the microsecond). JSON columns are TEXT: a column
declared ``JSON`` would get NUMERIC affinity and turn the document ``123`` into an integer.
Payload columns come last in their tables: SQLite stops reading a row at the last column a query
asks for, so metadata reads never touch them. The tables written once per node (node runs, log
lines, events) are each one b-tree keyed by one integer (since version 6: the execution's number
times 2**32 plus the row's position): no separate key index, and appends at the right edge, which
SQLite balances by adding a page instead of redistributing siblings. A node's progress commit
thereby writes about one page (version 1 with a table and its key index: two and more; versions
4-5, ``WITHOUT ROWID`` tables keyed by text: 2.1 on average).
"""

from __future__ import annotations

import logging
import sqlite3

from ._sql import check_schema_version

__all__ = ["MIGRATIONS", "UPGRADE_WAIT", "migrate"]

logger = logging.getLogger("linkflow_engine.storage")

UPGRADE_WAIT = 600.0
"""Seconds that opening a file of an older schema waits for the write lock (another process may
be upgrading it)."""

# What migration 6 rebuilds: an execution's metadata columns, a node run's fields and the
# indexes of the executions table (the text of migration 1, where they were first created).
_EXECUTION_META_NAMES = (
    "workflow_id, workflow_name, status, mode, created_at, started_at, finished_at, "
    "cancelled_at, error, retry_count, original_execution_id, triggered_by, options"
)
_EXECUTION_META = """workflow_id TEXT, workflow_name TEXT, status TEXT NOT NULL,
            mode TEXT NOT NULL, created_at REAL NOT NULL, started_at REAL, finished_at REAL,
            cancelled_at REAL, error TEXT, retry_count INTEGER NOT NULL DEFAULT 0,
            original_execution_id TEXT, triggered_by TEXT, options TEXT"""
_NODE_FIELD_NAMES = (
    "node_id, node_name, sequence, status, started_at, finished_at, error, attempts, "
    "iteration, port, reused, source_execution_id, input, output, events"
)
_NODE_FIELDS = """node_id TEXT NOT NULL, node_name TEXT NOT NULL,
            sequence INTEGER NOT NULL, status TEXT NOT NULL, started_at REAL, finished_at REAL,
            error TEXT, attempts INTEGER NOT NULL, iteration INTEGER, port TEXT,
            reused INTEGER NOT NULL, source_execution_id TEXT, input TEXT, output TEXT,
            events TEXT"""
_NODE_V9_COPIED = (
    "node_id, node_name, sequence, status, started_at, finished_at, error, attempts, "
    "iteration, port, reused, source_execution_id, timers, events, input, output"
)
# Covering indexes: stats read only the index, lists read 20 rows after a range scan.
_EXECUTION_INDEXES = (
    "CREATE INDEX executions_created ON executions (created_at, status, started_at, finished_at)",
    "CREATE INDEX executions_workflow ON executions "
    "(workflow_id, created_at, status, started_at, finished_at)",
    "CREATE INDEX executions_workflow_status ON executions (workflow_id, status, created_at)",
    "CREATE INDEX executions_status ON executions (status, created_at)",
    "CREATE INDEX executions_mode ON executions (mode, created_at)",
)


def _prefixed(alias: str, names: str) -> str:
    return ", ".join(f"{alias}.{name}" for name in names.split(", "))


MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE workflows (
            id TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL,
            status TEXT NOT NULL, created_at TEXT, updated_at TEXT, document TEXT NOT NULL,
            PRIMARY KEY (id, version))""",
        """CREATE TABLE executions (
            id TEXT PRIMARY KEY, workflow_id TEXT, workflow_name TEXT, status TEXT NOT NULL,
            mode TEXT NOT NULL, created_at REAL NOT NULL, started_at REAL, finished_at REAL,
            cancelled_at REAL, error TEXT, retry_count INTEGER NOT NULL DEFAULT 0,
            original_execution_id TEXT, triggered_by TEXT, options TEXT,
            input_data TEXT, workflow TEXT, outputs TEXT)""",
        *_EXECUTION_INDEXES,
        """CREATE TABLE node_executions (
            execution_id TEXT NOT NULL, node_id TEXT NOT NULL, node_name TEXT NOT NULL,
            sequence INTEGER NOT NULL, status TEXT NOT NULL, started_at REAL, finished_at REAL,
            error TEXT, attempts INTEGER NOT NULL, iteration INTEGER, port TEXT,
            reused INTEGER NOT NULL, source_execution_id TEXT, input TEXT, output TEXT,
            PRIMARY KEY (execution_id, sequence)) WITHOUT ROWID""",
        """CREATE TABLE logs (
            id INTEGER PRIMARY KEY, execution_id TEXT NOT NULL, timestamp REAL NOT NULL,
            level TEXT NOT NULL, message TEXT NOT NULL, node_id TEXT, data TEXT)""",
        "CREATE INDEX logs_execution ON logs (execution_id, id)",
        # Events are kept in batches (one row per progress write: a JSON array of the events
        # with sequences first..last): a row per event doubled the cost of a node's write.
        """CREATE TABLE events (
            execution_id TEXT NOT NULL, first_sequence INTEGER NOT NULL,
            last_sequence INTEGER NOT NULL, data TEXT NOT NULL,
            PRIMARY KEY (execution_id, first_sequence)) WITHOUT ROWID""",
        """CREATE TABLE leases (
            execution_id TEXT PRIMARY KEY, owner TEXT, fence INTEGER NOT NULL,
            expires_at REAL NOT NULL)""",
        """CREATE TABLE schedule_fires (
            workflow_id TEXT NOT NULL, node_id TEXT NOT NULL, scheduled_ms INTEGER NOT NULL,
            execution_id TEXT, recorded_at REAL NOT NULL,
            PRIMARY KEY (workflow_id, node_id, scheduled_ms))""",
        """CREATE TABLE webhook_deliveries (
            id TEXT PRIMARY KEY, execution_id TEXT NOT NULL, url TEXT NOT NULL,
            body TEXT NOT NULL, attempts INTEGER NOT NULL, next_attempt_at REAL NOT NULL,
            status TEXT NOT NULL, last_error TEXT)""",
        "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at)",
    ),
    # 2: credentials; ``data`` is the Fernet token of the JSON data (encrypted at rest).
    (
        """CREATE TABLE credentials (
            id TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL, data TEXT NOT NULL)""",
    ),
    # 3: webhooks (``authentication`` is the Fernet token of its JSON: secrets at rest are
    # encrypted) and the newest requests each one answered.
    (
        """CREATE TABLE webhooks (
            id TEXT PRIMARY KEY, workflow_id TEXT NOT NULL, node_id TEXT, source TEXT NOT NULL,
            name TEXT NOT NULL, path TEXT NOT NULL UNIQUE, method TEXT NOT NULL,
            is_active INTEGER NOT NULL, response_mode TEXT NOT NULL, response_code INTEGER,
            created_at TEXT NOT NULL, updated_at TEXT NOT NULL, last_triggered TEXT,
            trigger_count INTEGER NOT NULL DEFAULT 0, settings TEXT NOT NULL,
            authentication TEXT NOT NULL)""",
        "CREATE INDEX webhooks_workflow ON webhooks (workflow_id, created_at)",
        """CREATE TABLE webhook_logs (
            id INTEGER PRIMARY KEY, webhook_id TEXT NOT NULL, timestamp TEXT NOT NULL,
            method TEXT NOT NULL, status INTEGER NOT NULL, execution_id TEXT, error TEXT,
            ip TEXT)""",
        "CREATE INDEX webhook_logs_webhook ON webhook_logs (webhook_id, id)",
    ),
    # 4: a node run's row also carries the events of the progress writes that wrote it (one
    # JSON array per write, a line each), so a node's progress commit writes one b-tree.
    ("ALTER TABLE node_executions ADD COLUMN events TEXT",),
    # 5: workflow snapshots stored once, by key (a digest of the text), instead of in every
    # execution's row: a 20-node workflow's ~3 KB went into each execution (and was rewritten by
    # each update of the row); now an execution keeps the key. Rows written before keep their
    # ``workflow`` text.
    (
        "CREATE TABLE snapshots (key TEXT PRIMARY KEY, document TEXT NOT NULL)",
        "ALTER TABLE executions ADD COLUMN snapshot TEXT",
        "CREATE INDEX executions_snapshot ON executions (snapshot)",
    ),
    # 6: an execution's rows are keyed by its number. Each execution gets an integer ``num``
    # (its rowid); its node runs, log lines and event batches are rowid tables keyed
    # ``num * 2**32 + position``, and its lease lives in its own row. A progress write then
    # appends to one b-tree at its right edge (SQLite's quick balance: about one page per
    # commit, against two on average, up to nine, for the text-keyed tables, which redistribute
    # siblings on every split) and checks the fence in the row it reads for the key anyway;
    # taking and releasing a lease writes no page of its own. Measured on the W3 chain: the
    # SQLite part of a run 710 -> 390 µs.
    (
        f"""CREATE TABLE executions_v6 (
            num INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, {_EXECUTION_META},
            lease_owner TEXT, fence INTEGER NOT NULL DEFAULT 0, lease_expires REAL,
            input_data TEXT, workflow TEXT, outputs TEXT, snapshot TEXT)""",
        f"""INSERT INTO executions_v6 (id, {_EXECUTION_META_NAMES}, lease_owner, fence,
            lease_expires, input_data, workflow, outputs, snapshot)
        SELECT e.id, {_prefixed("e", _EXECUTION_META_NAMES)}, l.owner, COALESCE(l.fence, 0),
            l.expires_at, e.input_data, e.workflow, e.outputs, e.snapshot
        FROM executions e LEFT JOIN leases l ON l.execution_id = e.id
        ORDER BY e.created_at, e.id""",
        f"""CREATE TABLE node_executions_v6 (key INTEGER PRIMARY KEY, {_NODE_FIELDS})""",
        f"""INSERT INTO node_executions_v6
        SELECT (x.num << 32) + n.sequence, {_prefixed("n", _NODE_FIELD_NAMES)}
        FROM node_executions n JOIN executions_v6 x ON x.id = n.execution_id""",
        """CREATE TABLE logs_v6 (
            key INTEGER PRIMARY KEY, timestamp REAL NOT NULL, level TEXT NOT NULL,
            message TEXT NOT NULL, node_id TEXT, data TEXT)""",
        """INSERT INTO logs_v6
        SELECT (x.num << 32) + ROW_NUMBER() OVER (PARTITION BY l.execution_id ORDER BY l.id),
            l.timestamp, l.level, l.message, l.node_id, l.data
        FROM logs l JOIN executions_v6 x ON x.id = l.execution_id""",
        """CREATE TABLE events_v6 (
            key INTEGER PRIMARY KEY, last_sequence INTEGER NOT NULL, data TEXT NOT NULL)""",
        """INSERT INTO events_v6
        SELECT (x.num << 32) + v.first_sequence, v.last_sequence, v.data
        FROM events v JOIN executions_v6 x ON x.id = v.execution_id""",
        "DROP TABLE executions",
        "DROP TABLE node_executions",
        "DROP TABLE logs",
        "DROP TABLE events",
        "DROP TABLE leases",
        "ALTER TABLE executions_v6 RENAME TO executions",
        "ALTER TABLE node_executions_v6 RENAME TO node_executions",
        "ALTER TABLE logs_v6 RENAME TO logs",
        "ALTER TABLE events_v6 RENAME TO events",
        *_EXECUTION_INDEXES,
        "CREATE INDEX executions_snapshot ON executions (snapshot)",
    ),
    # 7: nothing to change in the tables, but node.started and node.completed events are now
    # kept with their node run's number in place of their payload (made from the run when
    # read); a version that does not know that refuses the file instead of replaying them
    # without payloads.
    (),
    # 8: deliveries may now start a failure's error workflows (address linkflow:error-workflows),
    # which a version that does not know them would give up as an unsendable URL. A node run
    # keeps the deadlines of its durable sleeps (``timers``, JSON).
    ("ALTER TABLE node_executions ADD COLUMN timers TEXT",),
    # 9: a progress write's log lines ride in the row it writes, a node run's or its event
    # batch's (``logs``, JSON, see _sqlite_rows.row_logs), placed by their events' numbers; a
    # version that reads only the logs table would miss them. Node rows and event batches are
    # rebuilt with their small columns (timers, logs; events) before their payloads (input and
    # output; the batch's events), so that reading them never walks a large value.
    (
        """CREATE TABLE node_executions_v9 (
            key INTEGER PRIMARY KEY, node_id TEXT NOT NULL, node_name TEXT NOT NULL,
            sequence INTEGER NOT NULL, status TEXT NOT NULL, started_at REAL, finished_at REAL,
            error TEXT, attempts INTEGER NOT NULL, iteration INTEGER, port TEXT,
            reused INTEGER NOT NULL, source_execution_id TEXT, timers TEXT, logs TEXT,
            events TEXT, input TEXT, output TEXT)""",
        f"""INSERT INTO node_executions_v9 (key, {_NODE_V9_COPIED})
        SELECT key, {_NODE_V9_COPIED} FROM node_executions ORDER BY key""",
        "DROP TABLE node_executions",
        "ALTER TABLE node_executions_v9 RENAME TO node_executions",
        """CREATE TABLE events_v9 (
            key INTEGER PRIMARY KEY, last_sequence INTEGER NOT NULL, logs TEXT,
            data TEXT NOT NULL)""",
        """INSERT INTO events_v9 (key, last_sequence, data)
        SELECT key, last_sequence, data FROM events ORDER BY key""",
        "DROP TABLE events",
        "ALTER TABLE events_v9 RENAME TO events",
    ),
    # 10: nothing to change in the tables, but a cancel now stores a delivery that writes the
    # cancelled execution's end when its run is gone (address linkflow:cancel-end), which a
    # version that does not know it would give up as an unsendable URL.
    (),
)


def migrate(connection: sqlite3.Connection, where: str) -> None:
    """Bring the schema up to date in one transaction; refuse a newer one, changing nothing.

    An up-to-date file is only read: opening it never waits for another process's writes. An
    older one is upgraded under ``BEGIN IMMEDIATE``, which takes the write lock first, so two
    processes opening it do not both run the migrations; the second waits for the first (up to
    :data:`UPGRADE_WAIT`, however short its ``busy_timeout``: an upgrade can take a while on a
    large file) and then finds nothing left to do.
    """
    found = _version(connection)
    check_schema_version(found, len(MIGRATIONS), where)
    if found == len(MIGRATIONS):
        return
    if found > 0:
        logger.info("%s has schema version %d: upgrading it to %d", where, found, len(MIGRATIONS))
    (patience,) = connection.execute("PRAGMA busy_timeout").fetchone()
    connection.execute(f"PRAGMA busy_timeout = {max(patience, int(UPGRADE_WAIT * 1000))}")
    try:
        connection.execute("BEGIN IMMEDIATE")
    finally:
        connection.execute(f"PRAGMA busy_timeout = {patience}")
    try:
        found = _version(connection)  # another process may have upgraded it meanwhile
        check_schema_version(found, len(MIGRATIONS), where)
        if found < len(MIGRATIONS):
            if found == 0:
                connection.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
                connection.execute("INSERT INTO schema_version VALUES (0)")
            for statements in MIGRATIONS[found:]:
                for statement in statements:
                    connection.execute(statement)
            connection.execute("UPDATE schema_version SET version = ?", (len(MIGRATIONS),))
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise


def _version(connection: sqlite3.Connection) -> int:
    exists = connection.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
    ).fetchone()
    if exists is None:
        return 0
    row = connection.execute("SELECT version FROM schema_version").fetchone()
    return int(row[0]) if row else 0
