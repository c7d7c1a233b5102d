"""Two computers edit the same generation: the last writer wins, judged by the server's clock
(a device's own clock may be hours off), and files, being addressed by their sha256, are never
overwritten by a pull."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from PIL import Image

import automata_desktop.library.store as library_store
from automata_desktop.core.maps import MapKind
from automata_desktop.library.store import Library
from automata_desktop.sync import Puller, SyncWorker
from automata_desktop.sync.library_mirror import LibraryMirror
from tests.supabase_stack.devices import PASSWORD, Device, make_generation, unique_email
from tests.supabase_stack.fixtures import pg_cluster, supabase_stack, supabase_stack_session  # noqa: F401


class Computer:
    """A device with a real Library, pushing and pulling through the real sync classes."""

    def __init__(self, device: Device, library: Library) -> None:
        self.device = device
        self.library = library
        self.mirror = LibraryMirror(library, state=device.outbox)
        self.puller = Puller(device.auth, device.outbox, self.mirror.upsert_remote)
        self.mirror.download = self.puller.fetch

    def push(self, gen_id: str) -> None:
        self.device.outbox.enqueue(gen_id)
        report = SyncWorker(self.device.auth, self.device.outbox, self.mirror).run_pending()
        assert report.pushed == [gen_id], report.failed

    def pull(self) -> int:
        return self.puller.pull()

    def edit(self, gen_id: str, **fields) -> None:
        """What the app does with a change: write it to the library and queue its push."""
        self.library.update(gen_id, **fields)
        self.device.outbox.enqueue(gen_id)

    def replace_map(self, gen_id: str, kind: MapKind, color: tuple[int, int, int], folder):
        path = folder / f"{kind.value}-{color[0]}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 16), color).save(path)
        self.library.ingest(gen_id, kind, "generated", path, path.name)
        return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def laptop_and_desktop(supabase_stack, tmp_path):  # noqa: F811
    email = unique_email("conflict")
    laptop = Device(supabase_stack, tmp_path / "laptop")
    laptop.sign_up(email)
    desktop = Device(supabase_stack, tmp_path / "desktop")
    desktop.auth.sign_in(email, PASSWORD)
    libraries = [Library(tmp_path / "laptop-lib"), Library(tmp_path / "desktop-lib")]
    yield Computer(laptop, libraries[0]), Computer(desktop, libraries[1])
    for library in libraries:
        library.close()
    laptop.close()
    desktop.close()


def shared_generation(laptop: Computer, desktop: Computer, tmp_path) -> str:
    made = make_generation(tmp_path / "made", "brick wall")
    files, made.files = made.files, []
    laptop.library.add(made)
    for f in files:
        laptop.library.ingest(made.id, f.kind, "generated", f.path, f.path.name)
    laptop.push(made.id)
    assert desktop.pull() == 1
    return made.id


def files_by_kind(library: Library, gen_id: str, kind: MapKind) -> dict[str, bytes]:
    return {f.sha256: f.path.read_bytes() for f in library.get(gen_id).files if f.kind is kind}


def test_a_newer_remote_edit_updates_the_local_generation(laptop_and_desktop, tmp_path):
    laptop, desktop = laptop_and_desktop
    gen_id = shared_generation(laptop, desktop, tmp_path)
    before = files_by_kind(desktop.library, gen_id, MapKind.NORMAL)

    laptop.library.update(gen_id, prompt="brick wall, mossy", parameters={"seed": 8})
    new_sha = laptop.replace_map(gen_id, MapKind.NORMAL, (10, 200, 30), tmp_path / "edit")
    laptop.push(gen_id)
    assert desktop.pull() == 1

    got = desktop.library.get(gen_id)
    assert got.prompt == "brick wall, mossy" and got.parameters == {"seed": 8}
    normals = files_by_kind(desktop.library, gen_id, MapKind.NORMAL)
    assert new_sha in normals  # the remote bytes arrived...
    assert all(normals[sha] == data for sha, data in before.items())  # ...beside the old file


def test_a_pull_never_overwrites_a_newer_local_edit(laptop_and_desktop, tmp_path):
    laptop, desktop = laptop_and_desktop
    gen_id = shared_generation(laptop, desktop, tmp_path)

    laptop.library.update(gen_id, prompt="laptop's idea")
    remote_sha = laptop.replace_map(gen_id, MapKind.NORMAL, (250, 0, 0), tmp_path / "laptop")
    laptop.push(gen_id)  # the server stamps this row first...
    time.sleep(0.01)
    local_sha = desktop.replace_map(gen_id, MapKind.NORMAL, (0, 0, 250), tmp_path / "desktop")
    desktop.edit(gen_id, prompt="desktop's idea")  # ...the desktop edits after it, unpushed

    assert desktop.pull() == 1
    got = desktop.library.get(gen_id)
    assert got.prompt == "desktop's idea"
    normals = files_by_kind(desktop.library, gen_id, MapKind.NORMAL)
    assert local_sha in normals and remote_sha not in normals

    desktop.push(gen_id)  # the newer local edit then wins on the laptop too
    assert laptop.pull() == 1
    assert laptop.library.get(gen_id).prompt == "desktop's idea"


def test_pulling_the_same_row_twice_changes_nothing(laptop_and_desktop, tmp_path):
    laptop, desktop = laptop_and_desktop
    gen_id = shared_generation(laptop, desktop, tmp_path)
    snapshot = desktop.library.get(gen_id)

    desktop.device.outbox.set_state(f"pull.cursor.{desktop.device.auth.account.user_id}", "")
    assert desktop.pull() == 1  # replayed from the start: same updated_at, so not newer
    again = desktop.library.get(gen_id)
    assert again.updated_at == snapshot.updated_at
    assert sorted(f.sha256 for f in again.files) == sorted(f.sha256 for f in snapshot.files)


@contextlib.contextmanager
def clock_off_by(offset: timedelta) -> Iterator[None]:
    """This device's clock is `offset` away from the real time (the library stamps with it)."""
    real = library_store.utcnow
    library_store.utcnow = lambda: real() + offset
    try:
        yield
    finally:
        library_store.utcnow = real


def test_a_device_whose_clock_runs_a_day_ahead_still_takes_later_edits(
        laptop_and_desktop, tmp_path):
    laptop, desktop = laptop_and_desktop
    gen_id = shared_generation(laptop, desktop, tmp_path)
    with clock_off_by(timedelta(days=1)):
        desktop.edit(gen_id, prompt="desktop's idea")  # stamped a day in the future locally
        desktop.push(gen_id)
    assert laptop.pull() == 1 and laptop.library.get(gen_id).prompt == "desktop's idea"

    laptop.edit(gen_id, prompt="laptop's later idea")
    laptop.push(gen_id)
    with clock_off_by(timedelta(days=1)):
        assert desktop.pull() == 1

    assert desktop.library.get(gen_id).prompt == "laptop's later idea"


def test_a_device_whose_clock_runs_a_day_behind_keeps_its_newer_unpushed_edit(
        laptop_and_desktop, tmp_path):
    laptop, desktop = laptop_and_desktop
    gen_id = shared_generation(laptop, desktop, tmp_path)
    laptop.edit(gen_id, prompt="laptop's idea")
    laptop.push(gen_id)
    with clock_off_by(-timedelta(days=1)):
        desktop.edit(gen_id, prompt="desktop's later idea")  # a day "before" the laptop's
        assert desktop.pull() == 1
        assert desktop.library.get(gen_id).prompt == "desktop's later idea"
        desktop.push(gen_id)

    assert laptop.pull() == 1
    assert laptop.library.get(gen_id).prompt == "desktop's later idea"

