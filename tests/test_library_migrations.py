"""Schema upgrades: from nothing, from an older library, and refusing a library from the future."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from automata_desktop.errors import LibraryError
from automata_desktop.library import Library
from automata_desktop.library.migrations import MIGRATIONS, SCHEMA_VERSION, migrate

# The v1 schema as released; see test_released_migrations_are_never_edited.
V1_SHA256 = "259e33ec6acd07a8c2bb504afd10d7736e135d1a8a9b8bebf19b0b32dc5c40dc"
V2_SHA256 = "5a5e8225231e8cfd31336729df03cb2160da44e0df5a4aa1d80282e3d6ac33c0"

# A later release's migration, to prove a library with data upgrades in place.
LATER_EXAMPLE = """
ALTER TABLE generations ADD COLUMN favourite INTEGER NOT NULL DEFAULT 0;
CREATE INDEX generations_favourite ON generations (favourite);
"""


def connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def v1_library_with_a_generation(tmp_path: Path) -> Path:
    db = tmp_path / "library.sqlite3"
    conn = connect(db)
    migrate(conn, str(db), MIGRATIONS[:1])
    conn.execute(
        "INSERT INTO generations (id, created_at, updated_at, status, workflow, server, prompt) "
        "VALUES ('g1', '2025-01-01T00:00:00.000000+00:00', '2025-01-01T00:00:00.000000+00:00', "
        "'completed', 'wf', 'http://127.0.0.1:8188', 'old brick')"
    )
    conn.close()
    return db


def test_an_empty_folder_gets_the_current_schema(tmp_path: Path) -> None:
    Library(tmp_path).close()
    conn = connect(tmp_path / "library.sqlite3")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert {"generations", "files", "webhook_ids"} <= tables(conn)
    assert "webhook_events" not in tables(conn)  # bodies are not kept
    conn.close()


def test_reopening_a_current_library_runs_no_migration(tmp_path: Path) -> None:
    db = v1_library_with_a_generation(tmp_path)
    Library(tmp_path).close()  # upgrades it
    conn = connect(db)
    assert migrate(conn, str(db)) == SCHEMA_VERSION  # already there
    conn.close()
    with Library(tmp_path) as lib:
        assert lib.get("g1").prompt == "old brick"  # type: ignore[union-attr]


def test_a_v1_library_upgrades_in_place_and_keeps_its_data(tmp_path: Path) -> None:
    db = v1_library_with_a_generation(tmp_path)
    conn = connect(db)

    assert migrate(conn, str(db), (*MIGRATIONS, LATER_EXAMPLE)) == 1

    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    assert conn.execute("SELECT prompt, favourite FROM generations").fetchall() == [
        ("old brick", 0)]
    conn.close()


def test_a_failing_migration_leaves_the_library_at_its_old_version(tmp_path: Path) -> None:
    db = v1_library_with_a_generation(tmp_path)
    conn = connect(db)
    broken = "ALTER TABLE generations ADD COLUMN half_done INTEGER;\nSELECT * FROM no_such_table;"

    with pytest.raises(LibraryError,
                       match=rf"Could not upgrade the library at .* to schema v{SCHEMA_VERSION + 1}"):
        migrate(conn, str(db), (*MIGRATIONS, broken))

    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    columns = {r[1] for r in conn.execute("PRAGMA table_info(generations)")}
    assert "half_done" not in columns
    conn.close()


def test_a_library_from_a_newer_app_is_refused_untouched(tmp_path: Path) -> None:
    db = v1_library_with_a_generation(tmp_path)
    conn = connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 3}")
    conn.close()
    before = db.read_bytes()

    with pytest.raises(LibraryError, match=rf"newer AUTOMATA Desktop \(schema v{SCHEMA_VERSION + 3}"):
        Library(tmp_path)

    conn = connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 3
    assert conn.execute("SELECT id FROM generations").fetchall() == [("g1",)]
    conn.close()
    assert db.read_bytes() == before


def test_released_migrations_are_never_edited() -> None:
    # Libraries in the field already ran v1; changing it would fork their schema from new ones.
    # Add a new migration instead (and a fixture of the previous schema with a test like above).
    assert hashlib.sha256(MIGRATIONS[0].encode()).hexdigest() == V1_SHA256
    assert hashlib.sha256(MIGRATIONS[1].encode()).hexdigest() == V2_SHA256


def test_a_v1_library_keeps_its_webhook_ids_but_not_their_bodies(tmp_path: Path) -> None:
    db = v1_library_with_a_generation(tmp_path)
    conn = connect(db)
    conn.execute("INSERT INTO webhook_events (webhook_id, generation_id, received_at, body) VALUES "
                 "('msg_1', 'g1', '2999-01-01T00:00:00.000000+00:00', '{\"huge\": \"base64\"}')")
    conn.close()
    with Library(tmp_path) as lib:
        assert not lib.remember_webhook_id("msg_1")  # still taken: its replay is refused
    conn = connect(db)
    assert "webhook_events" not in tables(conn)
    assert conn.execute("SELECT * FROM webhook_ids").fetchall() == [
        ("msg_1", "2999-01-01T00:00:00.000000+00:00")]
    conn.close()

