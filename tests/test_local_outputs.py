"""Outputs of a ComfyUI on this machine come straight from its output folder, not through `/view`,
when the folder is known, and only when the file there is the one the node announced."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from automata_desktop.backends import Backend
from automata_desktop.backends.comfyui import ComfyBackend
from automata_desktop.backends.local_outputs import local_output, local_read
from automata_desktop.backends.messages import OutputRef
from automata_desktop.core.generation import GenerationStatus
from automata_desktop.core.maps import MapKind
from tests.engine_helpers import backend_factory, request, running_engine, template

MAPS = {"base_color": 0xC08040, "roughness": 0x808080, "ao": 0xF0F0F0}


def maps_graph() -> dict:
    """Three maps saved by the AUTOMATA Webhook node (no webhook URL: it only saves and reports,
    with each file's size and SHA-256, in its `executed` output and in /history)."""
    graph: dict = {}
    hook: dict = {"webhook_url": "", "generation_id": "", "delivery": "reference",
                  "filename_prefix": "automata/local", "sixteen_bit": False}
    for i, (kind, color) in enumerate(MAPS.items(), start=1):
        graph[str(i)] = {"class_type": "EmptyImage",
                         "inputs": {"width": 64, "height": 48, "batch_size": 1, "color": color}}
        hook[kind] = [str(i), 0]
    graph["9"] = {"class_type": "AutomataWebhook", "inputs": hook}
    return graph


def reading_from(folder: Path, *, websocket: bool = True) -> Callable[[str], Backend]:
    """Backends told where their ComfyUI's output folder is (as a setting would tell them)."""
    make = backend_factory(websocket=websocket)

    def factory(url: str) -> Backend:
        backend = make(url)
        assert isinstance(backend, ComfyBackend)
        backend.output_dir = folder
        return backend

    return factory


def views(comfy) -> list[str]:
    return [r["query"].get("filename", "") for r in comfy.requests()["requests"]
            if r["path"] in ("/view", "/api/view")]


def server_file(comfy, name: str) -> Path:
    [path] = comfy.output_dir.rglob(name)
    return path


@pytest.mark.asyncio
async def test_maps_of_a_comfyui_on_this_machine_are_read_from_its_output_folder(fake_comfy,
                                                                                 tmp_path):
    async with running_engine(tmp_path / "lib", poll_interval_s=60,
                              backend_factory=reading_from(fake_comfy.output_dir)) as engine:
        [gen] = await engine.submit(request(template(maps_graph()), fake_comfy.url))
        [done] = await engine.wait([gen.id], timeout=15)
    assert done.status is GenerationStatus.COMPLETED, done.error
    assert sorted(f.kind.value for f in done.files) == sorted(MAPS)
    assert views(fake_comfy) == []  # the server was never asked for a file
    for f in done.files:  # the library holds the server's bytes, checksummed as any ingest
        assert f.path.read_bytes() == server_file(fake_comfy, f.path.name).read_bytes()
        assert f.sha256 == hashlib.sha256(f.path.read_bytes()).hexdigest()


@pytest.mark.asyncio
async def test_a_file_missing_from_the_folder_or_not_the_announced_one_comes_through_view(
        fake_comfy, tmp_path):
    """The folder the app was told of holds the base colour as the server wrote it, no roughness
    map, and a same-named AO map with other bytes: only the base colour is read from it."""
    mirror = tmp_path / "told-output"
    mirror.mkdir()
    fake_comfy.hold("history")  # the run's files are on disk; nobody has read them yet
    async with running_engine(tmp_path / "lib", poll_interval_s=0.1, fast_poll_s=0.1,
                              backend_factory=reading_from(mirror, websocket=False)) as engine:
        [gen] = await engine.submit(request(template(maps_graph()), fake_comfy.url))
        await fake_comfy.until(lambda state: "history" in state["waiting"])
        written = {p.name: p for p in fake_comfy.output_dir.rglob("*.png")}
        by_kind = {kind: next(n for n in written if f"_{kind}_" in n) for kind in MAPS}
        for kind in ("base_color", "ao"):
            copy = mirror / written[by_kind[kind]].relative_to(fake_comfy.output_dir)
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(written[by_kind[kind]], copy)
        ao = mirror / written[by_kind["ao"]].relative_to(fake_comfy.output_dir)
        ao.write_bytes(ao.read_bytes()[:-1] + b"\x00")  # same name and size, other bytes
        fake_comfy.release("history")
        [done] = await engine.wait([gen.id], timeout=15)
    assert done.status is GenerationStatus.COMPLETED, done.error
    assert sorted(views(fake_comfy)) == sorted([by_kind["roughness"], by_kind["ao"]])
    stored = {f.kind: f.path.read_bytes() for f in done.files}
    for kind in MAPS:
        assert stored[MapKind(kind)] == written[by_kind[kind]].read_bytes()


def test_only_a_regular_file_inside_the_folder_with_the_announced_size_and_hash_is_taken(
        tmp_path):
    folder = tmp_path / "output"
    (folder / "automata").mkdir(parents=True)
    data = b"\x89PNG map bytes"
    (folder / "automata" / "m.png").write_bytes(data)
    outside = tmp_path / "secret.png"
    outside.write_bytes(data)
    (folder / "automata" / "link.png").symlink_to(outside)
    digest = hashlib.sha256(data).hexdigest()

    def ref(name: str = "m.png", sub: str = "automata", **kw) -> OutputRef:
        return OutputRef(name, sub, **kw)

    assert local_output(folder, ref(size=len(data), sha256=digest)) == folder / "automata" / "m.png"
    assert local_output(folder, ref()) is not None  # nothing announced: being there is enough
    assert local_output(folder, ref(size=len(data) + 1)) is None
    assert local_output(folder, ref(sha256="0" * 64)) is None
    assert local_output(folder, ref(type="temp")) is None  # another folder of the server
    assert local_output(folder, ref("secret.png", "..")) is None
    assert local_output(folder, ref("link.png")) is None  # a symlink out of the folder
    assert local_output(folder, ref("gone.png")) is None
    assert local_output(tmp_path / "no-such-folder", ref()) is None
    # A map is read whole and checked in memory: the same rules, and the bytes that were checked.
    assert local_read(folder, ref(size=len(data), sha256=digest)) == data
    assert local_read(folder, ref()) == data
    for refused in (ref(size=len(data) + 1), ref(sha256="0" * 64), ref(type="temp"),
                    ref("secret.png", ".."), ref("link.png"), ref("gone.png")):
        assert local_read(folder, refused) is None


@pytest.mark.asyncio
async def test_the_node_names_its_output_folder_so_no_setting_is_needed(fake_comfy, tmp_path):
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        [gen] = await engine.submit(request(template(maps_graph()), fake_comfy.url))
        [done] = await engine.wait([gen.id], timeout=15)
    assert done.status is GenerationStatus.COMPLETED, done.error
    assert sorted(f.kind.value for f in done.files) == sorted(MAPS)
    assert views(fake_comfy) == []  # read from the folder the AUTOMATA node named


@pytest.mark.asyncio
async def test_a_webhooks_reference_is_read_from_the_folder_only_if_it_is_the_announced_file(
        fake_comfy, tmp_path):
    """A webhook names a map with its size and SHA-256; the folder the app was told of holds a
    same-named, same-sized file with other bytes: the map comes through /view instead."""
    import json

    import httpx

    from automata_desktop.webhook import WebhookListener, generate_secret, sign_headers
    from tests.engine_helpers import save_graph

    mirror = tmp_path / "told-output"
    secret = generate_secret()
    async with running_engine(tmp_path / "lib", poll_interval_s=60, fast_poll_s=60,
                              backend_factory=reading_from(mirror, websocket=False)) as engine:
        listener = WebhookListener(secret=secret, on_event=engine.handle_webhook)
        await listener.start()
        try:
            [gen] = await engine.submit(request(template(save_graph()), fake_comfy.url))
            async with httpx.AsyncClient(base_url=fake_comfy.url) as http:
                async def finished() -> bool:  # in the server's history: its file is written
                    prompt_id = (await engine.library.get(gen.id)).prompt_id
                    return bool(prompt_id and (await http.get(f"/history/{prompt_id}")).json())

                async def run_ends() -> None:
                    while not await finished():
                        await asyncio.sleep(0.02)

                await asyncio.wait_for(run_ends(), 15)
            [written] = fake_comfy.output_dir.rglob("test_basecolor*.png")
            real = written.read_bytes()
            impostor = mirror / written.relative_to(fake_comfy.output_dir)
            impostor.parent.mkdir(parents=True)
            impostor.write_bytes(real[:-1] + bytes([real[-1] ^ 0xFF]))  # same name and size
            files = [{"kind": "base_color", "filename": written.name,
                      "subfolder": str(written.parent.relative_to(fake_comfy.output_dir)),
                      "type": "output", "size": len(real),
                      "sha256": hashlib.sha256(real).hexdigest()}]
            body = json.dumps({"type": "generation.completed",
                               "timestamp": "2025-01-01T12:00:00Z",
                               "data": {"generation_id": gen.id, "files": files}}).encode()
            async with httpx.AsyncClient() as http:
                answer = await http.post(listener.url, content=body, headers={
                    "content-type": "application/json", **sign_headers(secret, body)})
            assert answer.status_code == 200, answer.text
            [done] = await engine.wait([gen.id], timeout=15)
        finally:
            await listener.stop()
    assert done.status is GenerationStatus.COMPLETED, done.error
    [stored] = done.files
    assert stored.path.read_bytes() == real
    assert views(fake_comfy) == [written.name]
