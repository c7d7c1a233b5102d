"""Storing a generation's files: atomic, verified, deduplicated, and honest about full disks."""

from __future__ import annotations

import errno
import hashlib
import io
import os
import resource
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from PIL import Image

from automata_desktop.core.generation import Generation
from automata_desktop.core.maps import MapKind
from automata_desktop.errors import LibraryError
from automata_desktop.library import (
    AsyncLibrary,
    IntegrityError,
    Library,
    atomic_write_stream,
    safe_filename,
)
from automata_desktop.library.store import STALE_PARTIAL_AGE_S

PAYLOAD = os.urandom(3 * 1024 * 1024 + 17)  # crosses several 1 MiB chunks
PAYLOAD_SHA = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture
def lib(tmp_path: Path):
    library = Library(tmp_path / "library")
    library.add(Generation(id="g1", workflow="wf", server="http://127.0.0.1:8188"))
    yield library
    library.close()


def png_bytes(width: int, height: int, mode: str = "RGB", fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), 128).save(out, format=fmt)
    return out.getvalue()


def chunks_of(data: bytes, size: int = 256 * 1024) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i:i + size]


def visible_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def file_rows(lib: Library) -> int:
    conn = sqlite3.connect(lib.root / "library.sqlite3")
    try:
        return conn.execute("SELECT COUNT(*) FROM files").fetchone()[0]
    finally:
        conn.close()


def test_bytes_are_stored_with_checksum_size_and_image_dimensions(lib: Library) -> None:
    data = png_bytes(64, 32)
    stored = lib.ingest("g1", MapKind.BASE_COLOR, "generated", data, "ComfyUI_00001_.png")

    assert stored.path == lib.files_dir("g1") / "ComfyUI_00001_.png"
    assert stored.path.read_bytes() == data
    assert (stored.sha256, stored.size) == (hashlib.sha256(data).hexdigest(), len(data))
    assert (stored.width, stored.height) == (64, 32)
    assert lib.get("g1").files == [stored]  # type: ignore[union-attr]


def test_jpeg_dimensions_come_from_the_header_too(lib: Library) -> None:
    stored = lib.ingest("g1", MapKind.PREVIEW, "generated", png_bytes(40, 30, fmt="JPEG"), "thumb.jpg")
    assert (stored.width, stored.height) == (40, 30)


def test_meshes_and_unknown_formats_have_no_dimensions(lib: Library) -> None:
    mesh = lib.ingest("g1", MapKind.MESH, "generated", b"glTF\x02\x00\x00\x00", "textured.glb")
    other = lib.ingest("g1", MapKind.OTHER, "generated", b"not an image", "notes.txt")
    assert (mesh.width, mesh.height, other.width, other.height) == (None, None, None, None)


def test_a_file_on_disk_and_an_open_stream_are_copied_in_chunks(lib: Library,
                                                                 tmp_path: Path) -> None:
    source = tmp_path / "download.bin"
    source.write_bytes(PAYLOAD)
    from_path = lib.ingest("g1", MapKind.HEIGHT, "generated", source, "height.exr",
                               expected_sha256=PAYLOAD_SHA, expected_size=len(PAYLOAD))
    with open(source, "rb") as stream:
        from_stream = lib.ingest("g1", MapKind.NORMAL, "generated", stream, "normal.exr")
    from_chunks = lib.ingest("g1", MapKind.AO, "generated", chunks_of(PAYLOAD), "ao.exr")

    for stored in (from_path, from_stream, from_chunks):
        assert stored.sha256 == PAYLOAD_SHA and stored.path.read_bytes() == PAYLOAD
    assert source.exists()  # the source is copied, not moved


def test_a_checksum_mismatch_stores_nothing(lib: Library) -> None:
    with pytest.raises(IntegrityError, match=r"checksum mismatch"):
        lib.ingest("g1", MapKind.BASE_COLOR, "generated", PAYLOAD, "albedo.png", expected_sha256="0" * 64)
    assert visible_files(lib.files_dir("g1")) == [] and file_rows(lib) == 0


def test_a_short_or_overlong_download_stores_nothing(lib: Library) -> None:
    with pytest.raises(IntegrityError, match=rf"received {len(PAYLOAD)} bytes, expected"):
        lib.ingest("g1", MapKind.BASE_COLOR, "generated", chunks_of(PAYLOAD), "a.png",
                       expected_size=len(PAYLOAD) + 1)

    consumed: list[int] = []

    def endless() -> Iterator[bytes]:
        while True:
            consumed.append(1)
            yield b"x" * 65536

    with pytest.raises(IntegrityError, match="more than the announced 100000 bytes"):
        lib.ingest("g1", MapKind.BASE_COLOR, "generated", endless(), "a.png", expected_size=100_000)
    assert len(consumed) == 2  # stopped at the first chunk past the limit
    assert visible_files(lib.files_dir("g1")) == [] and file_rows(lib) == 0


def test_a_duplicate_completion_stores_the_file_once(lib: Library) -> None:
    first = lib.ingest("g1", MapKind.BASE_COLOR, "generated", PAYLOAD, "albedo.png")
    again = lib.ingest("g1", MapKind.BASE_COLOR, "generated", chunks_of(PAYLOAD), "albedo_webhook.png")

    assert again == first
    assert visible_files(lib.files_dir("g1")) == ["albedo.png"] and file_rows(lib) == 1


def test_a_known_checksum_skips_the_download_entirely(lib: Library) -> None:
    first = lib.ingest("g1", MapKind.BASE_COLOR, "generated", PAYLOAD, "albedo.png")

    def must_not_be_read() -> Iterator[bytes]:
        raise AssertionError("the stream was read although the file is already stored")
        yield b""

    assert lib.ingest("g1", MapKind.BASE_COLOR, "generated", must_not_be_read(), "albedo.png",
                          expected_sha256=PAYLOAD_SHA.upper()) == first


def test_the_same_bytes_as_another_kind_are_a_separate_file(lib: Library) -> None:
    lib.ingest("g1", MapKind.ROUGHNESS, "generated", b"grey", "rough.png")
    lib.ingest("g1", MapKind.METALLIC, "generated", b"grey", "metal.png")
    assert file_rows(lib) == 2


def test_different_bytes_under_one_name_get_a_numbered_name(lib: Library) -> None:
    a = lib.ingest("g1", MapKind.BASE_COLOR, "generated", b"one", "albedo.png")
    b = lib.ingest("g1", MapKind.BASE_COLOR, "generated", b"two", "albedo.png")
    c = lib.ingest("g1", MapKind.NORMAL, "generated", b"three", "albedo.png")
    assert [a.path.name, b.path.name, c.path.name] == ["albedo.png", "albedo-2.png", "albedo-3.png"]
    assert a.path.read_bytes() == b"one"


def test_a_file_deleted_by_hand_is_restored_by_the_next_completion(lib: Library) -> None:
    stored = lib.ingest("g1", MapKind.BASE_COLOR, "generated", b"pixels", "albedo.png")
    stored.path.unlink()
    again = lib.ingest("g1", MapKind.BASE_COLOR, "generated", b"pixels", "albedo.png")
    assert again.path == stored.path and stored.path.read_bytes() == b"pixels"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\Windows\\win.ini", "win.ini"),
        ("..", "file"),
        (".hidden.png", "hidden.png"),
        ("CON.png", "_CON.png"),
        ('a<b>c:d"e|f?g*.png', "a_b_c_d_e_f_g_.png"),
        ("name. ", "name"),
        ("x" * 300 + ".png", "x" * 116 + ".png"),
    ],
)
def test_unsafe_file_names_are_made_safe(given: str, expected: str) -> None:
    assert safe_filename(given) == expected


def test_a_hostile_file_name_stays_inside_the_generation_folder(lib: Library,
                                                                tmp_path: Path) -> None:
    stored = lib.ingest("g1", MapKind.OTHER, "generated", b"root:x:0:0", "../../etc/passwd")
    assert stored.path == lib.files_dir("g1") / "passwd"
    assert not (tmp_path / "etc").exists()


def test_files_for_an_unknown_generation_are_refused_before_any_write(lib: Library) -> None:
    with pytest.raises(LibraryError, match="No generation ghost"):
        lib.ingest("ghost", MapKind.BASE_COLOR, "generated", b"x", "a.png")
    assert not (lib.root / "files" / "ghost").exists()


def test_a_full_disk_midway_is_a_clear_error_and_leaves_nothing(lib: Library) -> None:
    def fills_the_disk() -> Iterator[bytes]:
        yield PAYLOAD[: 1 << 20]
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(LibraryError) as caught:
        lib.ingest("g1", MapKind.BASE_COLOR, "generated", fills_the_disk(), "albedo.png")

    message = str(caught.value)
    assert "the disk is full" in message and str(lib.files_dir("g1")) in message
    assert visible_files(lib.files_dir("g1")) == [] and file_rows(lib) == 0
    assert lib.ingest("g1", MapKind.BASE_COLOR, "generated", b"ok", "albedo.png").path.name == "albedo.png"


@pytest.mark.skipif(sys.platform != "linux", reason="uses RLIMIT_FSIZE and SIGXFSZ")
def test_the_kernel_refusing_a_write_is_a_clear_error_and_leaves_nothing(lib: Library) -> None:
    folder = lib.files_dir("g1")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    # The kernel then fails any write past 1 MiB with EFBIG: a real refusal from the OS, the
    # same path a full disk takes through our writer.
    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, hard))
    try:
        with pytest.raises(LibraryError) as caught:
            lib.ingest("g1", MapKind.BASE_COLOR, "generated", chunks_of(PAYLOAD), "albedo.png")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)

    assert "too large" in str(caught.value) and str(folder) in str(caught.value)
    assert visible_files(folder) == [] and file_rows(lib) == 0


def test_a_network_failure_of_the_source_propagates_unchanged(lib: Library) -> None:
    def drops() -> Iterator[bytes]:
        yield b"partial"
        raise ConnectionResetError(errno.ECONNRESET, "peer reset")

    with pytest.raises(ConnectionResetError):
        lib.ingest("g1", MapKind.BASE_COLOR, "generated", drops(), "albedo.png")
    assert visible_files(lib.files_dir("g1")) == []


async def test_a_streaming_download_goes_straight_into_the_library(lib: Library) -> None:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks_of(PAYLOAD):
            yield chunk

    alib = AsyncLibrary(lib)
    stored = await alib.ingest("g1", MapKind.BASE_COLOR, "generated", body(), "albedo.png",
                               expected_sha256=PAYLOAD_SHA, expected_size=len(PAYLOAD))
    again = await alib.ingest("g1", MapKind.BASE_COLOR, "generated", body(), "albedo.png")

    assert stored.path.read_bytes() == PAYLOAD and again == stored and file_rows(lib) == 1


async def test_an_async_download_cut_short_leaves_nothing(lib: Library) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield PAYLOAD[:1000]

    with pytest.raises(IntegrityError):
        await AsyncLibrary(lib).ingest("g1", MapKind.BASE_COLOR, "generated", body(),
                                       "albedo.png", expected_size=len(PAYLOAD))
    assert visible_files(lib.files_dir("g1")) == [] and file_rows(lib) == 0


async def test_a_staged_prefetch_is_recorded_only_when_ingested_renamed_once(lib: Library) -> None:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks_of(PAYLOAD):
            yield chunk

    alib = AsyncLibrary(lib)
    staged = await alib.stage("g1", body(), "albedo.png", expected_size=len(PAYLOAD))
    folder = lib.files_dir("g1")
    assert [p.name for p in folder.iterdir() if not p.name.startswith(".")] == []
    assert file_rows(lib) == 0  # streamed under a hidden temp name, not yet recorded
    stored = await alib.ingest("g1", MapKind.BASE_COLOR, "generated", staged, "albedo.png")
    assert stored.path.name == "albedo.png" and stored.path.read_bytes() == PAYLOAD
    assert stored.sha256 == PAYLOAD_SHA and file_rows(lib) == 1
    assert [p.name for p in lib.files_dir("g1").iterdir()] == ["albedo.png"]  # no temp left

    dropped = await alib.stage("g1", body(), "other.png")
    dropped.discard()  # a run that did not complete
    assert [p.name for p in lib.files_dir("g1").iterdir()] == ["albedo.png"]


async def test_a_staged_file_with_bytes_already_stored_is_dropped_not_recorded_twice(
    lib: Library,
) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield PAYLOAD

    alib = AsyncLibrary(lib)
    first = await alib.ingest("g1", MapKind.NORMAL, "generated", PAYLOAD, "normal.png")
    staged = await alib.stage("g1", body(), "normal_copy.png")
    assert await alib.ingest("g1", MapKind.NORMAL, "generated", staged, "normal_copy.png") == first
    assert visible_files(lib.files_dir("g1")) == ["normal.png"] and file_rows(lib) == 1


async def test_a_file_staged_for_another_generation_is_refused_and_removed(lib: Library) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield PAYLOAD

    lib.add(Generation(id="g2", workflow="wf", server="http://127.0.0.1:8188"))
    alib = AsyncLibrary(lib)
    staged = await alib.stage("g1", body(), "albedo.png")
    with pytest.raises(LibraryError, match="staged for g1, not g2"):
        await alib.ingest("g2", MapKind.BASE_COLOR, "generated", staged, "albedo.png")
    assert os.listdir(lib.files_dir("g1")) == [] and file_rows(lib) == 0


def test_atomic_write_replaces_the_old_file_only_when_complete(tmp_path: Path) -> None:
    dest = tmp_path / "map.png"
    dest.write_bytes(b"old")

    def fails() -> Iterator[bytes]:
        yield b"new-partial"
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(LibraryError, match="disk is full"):
        atomic_write_stream(dest, fails())
    assert dest.read_bytes() == b"old" and visible_files(tmp_path) == ["map.png"]

    assert atomic_write_stream(dest, [b"new"]) == (hashlib.sha256(b"new").hexdigest(), 3)
    assert dest.read_bytes() == b"new" and visible_files(tmp_path) == ["map.png"]


def test_a_destination_that_cannot_be_a_folder_is_named_in_the_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_bytes(b"")
    with pytest.raises(LibraryError, match=r"Cannot create map.png in .*not-a-dir"):
        atomic_write_stream(blocker / "map.png", [b"x"])


def test_leftovers_of_a_crash_are_swept_at_the_next_start(tmp_path: Path) -> None:
    root = tmp_path / "library"
    Library(root).close()
    folder = root / "files" / "g1"
    folder.mkdir()
    stale = folder / ".albedo.png.abc123.part"
    fresh = folder / ".normal.png.def456.part"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    old = time.time() - STALE_PARTIAL_AGE_S - 60
    os.utime(stale, (old, old))
    trash = root / "files" / ".deleted-g0.1234"
    trash.mkdir()
    (trash / "x.png").write_bytes(b"x")

    Library(root).close()

    assert not stale.exists() and not trash.exists()
    assert fresh.exists()  # may be another running instance's download


def test_a_path_given_as_text_is_a_clear_error(lib: Library) -> None:
    with pytest.raises(LibraryError, match="needs a Path, bytes or a stream"):
        lib.ingest("g1", MapKind.BASE_COLOR, "generated", "/tmp/albedo.png", "albedo.png")  # type: ignore[arg-type]


def test_a_missing_source_file_is_a_clear_error(lib: Library, tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match=r"missing\.png does not exist"):
        lib.ingest("g1", MapKind.BASE_COLOR, "generated", tmp_path / "missing.png", "albedo.png")
    assert visible_files(lib.files_dir("g1")) == []


async def test_a_staged_download_whose_name_is_taken_is_numbered(lib: Library) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"second run"

    folder = lib.files_dir("g1")
    lib.ingest("g1", MapKind.BASE_COLOR, "generated", b"first run", "albedo.png")
    alib = AsyncLibrary(lib)
    staged = await alib.stage("g1", body(), "albedo.png")

    stored = await alib.ingest("g1", MapKind.BASE_COLOR, "generated", staged, "albedo.png")

    assert stored.path == folder / "albedo-2.png" and stored.path.read_bytes() == b"second run"
    assert visible_files(folder) == ["albedo-2.png", "albedo.png"]
    assert lib.get("g1").files[1] == stored  # type: ignore[union-attr]
