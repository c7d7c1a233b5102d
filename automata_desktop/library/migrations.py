"""The library's schema, as an ordered list of migrations. `PRAGMA user_version` says how many ran.

Never edit a released migration: append a new one. Each runs in its own transaction together with
the version bump, so a failure leaves the database exactly at the previous version.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from automata_desktop.errors import LibraryError

# Timestamps are ISO 8601 UTC strings with microseconds, so text order is time order.
V1 = """
CREATE TABLE generations (
    id           TEXT PRIMARY KEY,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    status       TEXT NOT NULL,
    prompt       TEXT NOT NULL DEFAULT '',
    parameters   TEXT NOT NULL DEFAULT '{}',
    workflow     TEXT NOT NULL,
    server       TEXT NOT NULL,
    prompt_id    TEXT,
    started_at   TEXT,
    finished_at  TEXT,
    error        TEXT
);
CREATE INDEX generations_created ON generations (created_at DESC);
CREATE INDEX generations_status ON generations (status, created_at);
CREATE INDEX generations_prompt_id ON generations (prompt_id);

CREATE TABLE files (
    id             INTEGER PRIMARY KEY,
    generation_id  TEXT NOT NULL REFERENCES generations (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    path           TEXT NOT NULL UNIQUE,
    sha256         TEXT NOT NULL,
    size           INTEGER NOT NULL,
    width          INTEGER,
    height         INTEGER,
    source         TEXT NOT NULL DEFAULT 'generated'
                   CHECK (source IN ('generated', 'derived', 'imported')),
    created_at     TEXT NOT NULL,
    UNIQUE (generation_id, kind, sha256)
);
CREATE INDEX files_generation ON files (generation_id);

-- Every verified webhook delivery, kept for audit and as the seen-set for replay protection.
-- No foreign key: a delivery may name a generation this library does not (yet) know.
CREATE TABLE webhook_events (
    webhook_id     TEXT PRIMARY KEY,
    generation_id  TEXT NOT NULL,
    received_at    TEXT NOT NULL,
    body           TEXT NOT NULL
);
CREATE INDEX webhook_events_received ON webhook_events (received_at);
"""

# Replay protection keeps webhook ids only, for as long as their signatures are accepted; the
# bodies (up to 256 MiB of base64 each) were stored whole, never read and never pruned.
V2 = """
CREATE TABLE webhook_ids (
    webhook_id   TEXT PRIMARY KEY,
    received_at  TEXT NOT NULL
);
CREATE INDEX webhook_ids_received ON webhook_ids (received_at);
INSERT INTO webhook_ids (webhook_id, received_at) SELECT webhook_id, received_at FROM webhook_events;
DROP TABLE webhook_events;
"""

# What resubmitting a generation needs when its server lost the prompt (a restart empties its
# queue), also after the app restarted: the bound graph (it holds no secret: the webhook key is
# never in a prompt), the local input files to upload again, and the prompt ids lost so far.
V3 = """
CREATE TABLE submissions (
    generation_id    TEXT PRIMARY KEY REFERENCES generations (id) ON DELETE CASCADE,
    graph            TEXT NOT NULL,
    inputs           TEXT NOT NULL DEFAULT '{}',
    lost_prompt_ids  TEXT NOT NULL DEFAULT '[]'
);
"""

# Identical bytes are stored once (hard links): finding a twin by content must not scan.
V4 = """
CREATE INDEX files_content ON files (sha256, size);
"""

# Several servers: a generation waiting in the app's queue keeps what it was asked with (its
# servers, the local input files, ahead or behind), so it waits again after the app restarts
# instead of failing; and the run time the router learnt for each workflow on each server, so
# the first batch after a restart is routed as well as the last one before it.
V5 = """
CREATE TABLE pool_requests (
    generation_id  TEXT PRIMARY KEY REFERENCES generations (id) ON DELETE CASCADE,
    servers        TEXT NOT NULL,
    inputs         TEXT NOT NULL DEFAULT '{}',
    front          INTEGER NOT NULL DEFAULT 0,
    timeout_s      REAL
);
CREATE TABLE run_times (
    server    TEXT NOT NULL,
    workflow  TEXT NOT NULL,
    seconds   REAL NOT NULL,
    PRIMARY KEY (server, workflow)
);
"""

MIGRATIONS: tuple[str, ...] = (V1, V2, V3, V4, V5)
SCHEMA_VERSION = len(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def check_supported(conn: sqlite3.Connection, where: str, target: int = SCHEMA_VERSION) -> int:
    """The database's version, or a LibraryError if a newer app wrote it (we must not touch it)."""
    version = schema_version(conn)
    if version > target:
        raise LibraryError(
            f"The library at {where} was written by a newer AUTOMATA Desktop (schema v{version}; "
            f"this version understands up to v{target}). Update the app, or choose another "
            "library folder."
        )
    return version


def migrate(
    conn: sqlite3.Connection, where: str, migrations: Sequence[str] = MIGRATIONS
) -> int:
    """Bring the database up to `len(migrations)`; returns the version it was at before.

    `conn` must be in autocommit mode (isolation_level=None). `where` names the database in errors.
    """
    target = len(migrations)
    start = check_supported(conn, where, target)
    version = start
    while version < target:
        script = migrations[version]
        try:
            # executescript commits any open transaction first, so BEGIN belongs in the script.
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version + 1};\nCOMMIT;"
            )
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            # Another process may have run the same migration first; then we are simply done.
            if schema_version(conn) > version:
                version = schema_version(conn)
                continue
            raise LibraryError(
                f"Could not upgrade the library at {where} to schema v{version + 1}: {exc}"
            ) from exc
        version += 1
    return start
