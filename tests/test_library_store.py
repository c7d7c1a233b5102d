"""The local library as the job engine and the UI use it: record, update, find, resume, delete."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from automata_desktop.core.generation import Generation, GenerationStatus
from automata_desktop.errors import LibraryError
from automata_desktop.library import Library
from automata_desktop.library.migrations import SCHEMA_VERSION

GEN_A = "00000000-0000-4000-8000-00000000000a"
GEN_B = "00000000-0000-4000-8000-00000000000b"

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def make_gen(gen_id: str, *, minutes: int = 0, **kw: object) -> Generation:
    kw.setdefault("workflow", "hunyuan3d-paint")
    kw.setdefault("server", "http://127.0.0.1:8188")
    return Generation(id=gen_id, created_at=T0 + timedelta(minutes=minutes),
                      updated_at=T0 + timedelta(minutes=minutes), **kw)  # type: ignore[arg-type]


@pytest.fixture
def lib(tmp_path: Path):
    library = Library(tmp_path / "library")
    yield library
    library.close()


def test_a_generation_recorded_before_work_starts_reads_back_unchanged(lib: Library) -> None:
    gen = make_gen("g1", prompt="mossy brick wall", parameters={"seed": 42, "steps": 30,
                                                                "tags": ["pbr", "4k"]})
    lib.add(gen)

    got = lib.get("g1")

    assert got is not None
    assert (got.id, got.status, got.prompt, got.workflow, got.server) == (
        "g1", GenerationStatus.QUEUED, "mossy brick wall", "hunyuan3d-paint",
        "http://127.0.0.1:8188")
    assert got.parameters == {"seed": 42, "steps": 30, "tags": ["pbr", "4k"]}
    assert got.created_at == T0 and got.created_at.tzinfo is not None
    assert got.files == [] and got.started_at is None and got.prompt_id is None


def test_an_unknown_id_is_none_and_a_duplicate_add_is_refused(lib: Library) -> None:
    assert lib.get("nope") is None
    lib.add(make_gen("g1"))
    with pytest.raises(LibraryError, match="already in the library"):
        lib.add(make_gen("g1"))


def test_ids_that_could_escape_the_files_folder_are_refused(lib: Library) -> None:
    for bad in ("../x", "a/b", "", "..", "a\\b"):
        with pytest.raises(LibraryError, match="Invalid generation id"):
            lib.add(make_gen(bad))


def test_parameters_that_are_not_json_give_a_clear_error(lib: Library) -> None:
    with pytest.raises(LibraryError, match="parameters are not JSON"):
        lib.add(make_gen("g1", parameters={"mesh": object()}))


def test_running_then_completed_stamps_the_times_and_bumps_updated_at(lib: Library) -> None:
    lib.add(make_gen("g1"))

    running = lib.update("g1", status=GenerationStatus.RUNNING, prompt_id="p-123")
    assert running.status is GenerationStatus.RUNNING and running.prompt_id == "p-123"
    assert running.started_at is not None and running.finished_at is None
    assert running.updated_at > T0

    done = lib.update("g1", status="completed")
    assert done.status is GenerationStatus.COMPLETED
    assert done.started_at == running.started_at
    assert done.finished_at is not None and done.duration_s is not None
    assert lib.get("g1") == done


def test_explicit_times_and_errors_are_kept(lib: Library) -> None:
    lib.add(make_gen("g1"))
    start = datetime(2025, 3, 1, 13, 0)  # naive: taken as UTC
    failed = lib.update("g1", status="failed", error="CUDA out of memory", started_at=start,
                        finished_at=start + timedelta(seconds=90))
    assert failed.error == "CUDA out of memory"
    assert failed.started_at == start.replace(tzinfo=UTC)
    assert failed.duration_s == 90


def test_bad_updates_are_refused_with_a_reason(lib: Library) -> None:
    lib.add(make_gen("g1"))
    with pytest.raises(LibraryError, match="Cannot update id"):
        lib.update("g1", id="other")
    with pytest.raises(LibraryError, match="Unknown generation status 'done'"):
        lib.update("g1", status="done")
    with pytest.raises(LibraryError, match="No generation missing"):
        lib.update("missing", status="running")
    assert lib.get("g1").status is GenerationStatus.QUEUED  # type: ignore[union-attr]


def test_the_gallery_lists_newest_first_and_pages(lib: Library) -> None:
    for i in range(5):
        lib.add(make_gen(f"g{i}", minutes=i))

    assert [g.id for g in lib.list()] == ["g4", "g3", "g2", "g1", "g0"]
    assert [g.id for g in lib.list(limit=2, offset=1)] == ["g3", "g2"]
    assert lib.count() == 5


def test_the_gallery_filters_by_status(lib: Library) -> None:
    for i in range(4):
        lib.add(make_gen(f"g{i}", minutes=i))
    lib.update("g1", status="failed")
    lib.update("g3", status="failed")

    assert [g.id for g in lib.list(status=GenerationStatus.FAILED)] == ["g3", "g1"]
    assert lib.count(status=GenerationStatus.QUEUED) == 2


def test_search_finds_every_word_in_prompt_workflow_server_or_id(lib: Library) -> None:
    lib.add(make_gen("aaa-111", prompt="Mossy brick wall", minutes=1))
    lib.add(make_gen("bbb-222", prompt="rusty metal plate", workflow="pbr-from-image", minutes=2))
    lib.add(make_gen("ccc-333", prompt="brick floor", server="http://gpu-box:8188", minutes=3))

    assert [g.id for g in lib.list(search="brick")] == ["ccc-333", "aaa-111"]
    assert [g.id for g in lib.list(search="BRICK moss")] == ["aaa-111"]
    assert [g.id for g in lib.list(search="pbr-from")] == ["bbb-222"]
    assert [g.id for g in lib.list(search="gpu-box")] == ["ccc-333"]
    assert [g.id for g in lib.list(search="222")] == ["bbb-222"]
    assert lib.count(search="brick") == 2


def test_search_treats_wildcards_literally(lib: Library) -> None:
    lib.add(make_gen("g1", prompt="100% rough"))
    lib.add(make_gen("g2", prompt="1000 rough"))
    assert [g.id for g in lib.list(search="100%")] == ["g1"]
    assert lib.list(search="_") == []


def test_unfinished_generations_survive_a_restart_in_creation_order(tmp_path: Path) -> None:
    root = tmp_path / "library"
    with Library(root) as lib:
        lib.add(make_gen("late", minutes=5))
        lib.add(make_gen("early", minutes=1))
        lib.add(make_gen("done", minutes=2))
        lib.add(make_gen("running", minutes=3))
        lib.update("done", status="completed")
        lib.update("running", status="running", prompt_id="p-9")

    with Library(root) as reopened:
        resumable = reopened.unfinished()

    assert [g.id for g in resumable] == ["early", "running", "late"]
    assert resumable[1].prompt_id == "p-9" and resumable[1].status is GenerationStatus.RUNNING


def test_a_closed_library_says_so(tmp_path: Path) -> None:
    lib = Library(tmp_path)
    lib.close()
    lib.close()  # twice is harmless
    with pytest.raises(LibraryError, match="closed"):
        lib.list()


def test_the_database_uses_wal_foreign_keys_and_the_current_schema(tmp_path: Path) -> None:
    Library(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "library.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_a_library_folder_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(LibraryError, match=r"Cannot create the library folder in .*a-file"):
        Library(blocker / "library")


def test_a_corrupt_database_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "library.sqlite3").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LibraryError, match=r"Cannot open the library at .*library.sqlite3"):
        Library(tmp_path)


def test_delete_removes_the_generation_its_file_rows_and_its_folder(lib: Library) -> None:
    lib.add(make_gen("g1"))
    lib.add(make_gen("g2"))
    stored = lib.ingest("g1", "base_color", "generated", b"pixels", "albedo.png")  # type: ignore[arg-type]
    kept = lib.ingest("g2", "base_color", "generated", b"pixels", "albedo.png")  # type: ignore[arg-type]

    lib.delete("g1")

    assert lib.get("g1") is None
    assert not stored.path.parent.exists()
    assert kept.path.read_bytes() == b"pixels"
    assert list((lib.root / "files").iterdir()) == [kept.path.parent]  # no trash left behind
    conn = sqlite3.connect(lib.root / "library.sqlite3")
    assert conn.execute("SELECT COUNT(*) FROM files").fetchone()[0] == 1
    conn.close()


def test_delete_can_keep_the_files(lib: Library) -> None:
    lib.add(make_gen("g1"))
    stored = lib.ingest("g1", "normal", "generated", b"n", "n.png")  # type: ignore[arg-type]
    lib.delete("g1", files=False)
    assert lib.get("g1") is None and stored.path.read_bytes() == b"n"


def test_four_threads_writing_at_once_lose_nothing(lib: Library) -> None:
    lib.add(make_gen("shared"))
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def worker(t: int) -> None:
        try:
            barrier.wait()
            for i in range(25):
                gen_id = f"t{t}-{i}"
                lib.add(make_gen(gen_id, minutes=i, prompt=f"thread {t}"))
                lib.update(gen_id, status="running")
                lib.ingest(gen_id, "base_color", "generated", f"{gen_id}".encode(),  # type: ignore[arg-type]
                               "out.png")
                lib.update(gen_id, status="completed")
                # Every thread reports the same completion for the shared generation.
                lib.ingest("shared", "base_color", "generated", b"same bytes",  # type: ignore[arg-type]
                               f"from-thread-{t}.png")
                lib.list(search="thread", limit=10)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)

    assert errors == []
    assert lib.count(status=GenerationStatus.COMPLETED) == 100
    for gen in lib.list(status=GenerationStatus.COMPLETED, limit=200):
        assert [f.path.read_bytes() for f in gen.files] == [gen.id.encode()]
    shared = lib.get("shared")
    assert shared is not None and len(shared.files) == 1
    assert [p.name for p in shared.files[0].path.parent.iterdir()] == [shared.files[0].path.name]


def test_webhook_ids_are_taken_once_even_across_restarts_and_no_body_is_kept(tmp_path: Path) -> None:
    with Library(tmp_path) as lib:
        assert lib.remember_webhook_id("msg_1")
        assert not lib.remember_webhook_id("msg_1")
        assert lib.remember_webhook_id("msg_2")
    with Library(tmp_path) as lib:
        assert not lib.remember_webhook_id("msg_2")
        conn = sqlite3.connect(tmp_path / "library.sqlite3")
        columns = [row[1] for row in conn.execute("PRAGMA table_info(webhook_ids)")]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        conn.close()
        assert columns == ["webhook_id", "received_at"] and "webhook_events" not in tables


def test_old_webhook_ids_can_be_pruned(lib: Library) -> None:
    lib.remember_webhook_id("msg_old")
    assert lib.prune_webhook_ids(datetime.now(UTC) - timedelta(hours=1)) == 0
    assert lib.prune_webhook_ids(datetime.now(UTC) + timedelta(seconds=1)) == 1
    assert lib.remember_webhook_id("msg_old")


def test_taking_a_webhook_id_prunes_those_older_than_the_window(lib: Library) -> None:
    assert lib.remember_webhook_id("msg_old")
    # A window that ended a second from now covers nothing taken so far: the old id goes.
    assert lib.remember_webhook_id("msg_new", window_s=-1)
    assert lib.remember_webhook_id("msg_old")  # taken again: it had been pruned
    assert not lib.remember_webhook_id("msg_new")  # within the default window


def test_updating_parameters_with_something_unstorable_is_refused(lib: Library) -> None:
    lib.add(make_gen("g1", parameters={"seed": 1}))
    with pytest.raises(LibraryError, match="parameters are not JSON"):
        lib.update("g1", parameters={"seed": {1, 2}})
    assert lib.update("g1", parameters={"seed": 2}).parameters == {"seed": 2}


def test_a_forgotten_webhook_id_is_accepted_again(lib: Library) -> None:
    assert lib.remember_webhook_id("msg_1")
    lib.forget_webhook_id("msg_1")
    assert lib.remember_webhook_id("msg_1")


def test_identical_bytes_in_two_generations_are_stored_once(lib: Library) -> None:
    """A re-run of a deterministic workflow makes the same maps: one copy on disk, two rows."""
    from automata_desktop.core.maps import MapKind

    data = bytes(range(256)) * 4096  # 1 MiB
    for gen_id in (GEN_A, GEN_B):
        lib.add(make_gen(gen_id))
    a = lib.ingest(GEN_A, MapKind.BASE_COLOR, "generated", data, "base.png")
    b = lib.ingest(GEN_B, MapKind.BASE_COLOR, "generated", data, "base.png")
    assert a.path != b.path and b.path.read_bytes() == data
    assert a.path.stat().st_ino == b.path.stat().st_ino  # one copy, two names
    lib.delete(GEN_A, files=True)
    assert b.path.read_bytes() == data  # the other generation keeps its file whole
