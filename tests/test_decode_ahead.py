"""Maps are decoded while they are being stored, for the window that shows them: a finished
generation's set comes with its pixels (the same the files give), a map whose decode failed is
left to the window's own decode (which says what is wrong), and decodes nobody takes are dropped."""

from __future__ import annotations

import numpy as np
import pytest

from automata_desktop.controller.app_controller import texture_set_of
from automata_desktop.core import decode_ahead
from automata_desktop.core.decode_ahead import DecodeAhead
from automata_desktop.core.generation import GenerationStatus
from automata_desktop.core.maps import MapKind
from automata_desktop.core.texture_set import (
    MapSource,
    TextureError,
    TextureMap,
    TextureSet,
    load_image,
)
from automata_desktop.runtime import Runtime
from comfy_nodes.images import png_bytes
from tests.engine_helpers import request, running_engine, template
from tests.test_local_outputs import MAPS, maps_graph, reading_from

RNG = np.random.default_rng(5)


@pytest.fixture
def ahead():
    made = DecodeAhead(workers=2)
    yield made
    made.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("local", [False, True], ids=["view", "output-folder"])
async def test_a_finished_generations_maps_come_decoded_as_the_files_give_them(
        fake_comfy, tmp_path, ahead, monkeypatch, local):
    order: list[str] = []
    real_decode = decode_ahead.decode_image

    def decode(data: bytes) -> np.ndarray:
        order.append("decode")
        return real_decode(data)

    monkeypatch.setattr(decode_ahead, "decode_image", decode)
    extra = {"backend_factory": reading_from(fake_comfy.output_dir)} if local else {}
    async with running_engine(tmp_path / "lib", poll_interval_s=60, **extra) as engine:
        engine.outputs.ahead = ahead
        [gen] = await engine.submit(request(template(maps_graph()), fake_comfy.url))
        [done] = await engine.wait([gen.id], timeout=15)
    assert done.status is GenerationStatus.COMPLETED, done.error
    shown = ahead.filled(texture_set_of(done))
    assert sorted(k.value for k in shown.kinds) == sorted(MAPS)
    for texture in shown:  # every map already decoded, and to what the stored file holds
        assert texture.is_loaded
        assert np.array_equal(texture.pixels, load_image(texture.path))
    assert order == ["decode"] * len(MAPS)  # once each: the window reads none again
    again = ahead.filled(texture_set_of(done))  # taken once: a second set decodes by itself
    assert not any(t.is_loaded for t in again)


def test_a_map_whose_early_decode_failed_is_left_to_the_windows_decode(tmp_path, ahead):
    path = tmp_path / "gen_normal.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not a png at all")
    ahead.remember(path, ahead.start(path.read_bytes()))
    textures = TextureSet({MapKind.NORMAL: TextureMap(MapKind.NORMAL, MapSource.GENERATED, path)})
    filled = ahead.filled(textures)
    assert not filled.get(MapKind.NORMAL).is_loaded
    with pytest.raises(TextureError, match=r"gen_normal\.png"):
        filled.loaded()


def test_decodes_nobody_takes_are_dropped_oldest_first(tmp_path):
    ahead = DecodeAhead(workers=1, keep=2)
    try:
        paths = []
        for i in range(3):
            path = tmp_path / f"map{i}_roughness.png"
            path.write_bytes(png_bytes(RNG.random((8, 8, 1)).astype(np.float32), gray=True))
            ahead.remember(path, ahead.start(path.read_bytes()))
            paths.append(path)
        maps = {MapKind.ROUGHNESS: TextureMap(MapKind.ROUGHNESS, MapSource.GENERATED, paths[0])}
        assert not ahead.filled(TextureSet(maps)).get(MapKind.ROUGHNESS).is_loaded
        for path in paths[1:]:
            maps = {MapKind.ROUGHNESS: TextureMap(MapKind.ROUGHNESS, MapSource.GENERATED, path)}
            filled = ahead.filled(TextureSet(maps)).get(MapKind.ROUGHNESS)
            assert filled.is_loaded and np.array_equal(filled.pixels, load_image(path))
    finally:
        ahead.close()


@pytest.mark.asyncio
async def test_only_a_runtime_that_shows_results_decodes_them(tmp_path):
    from automata_desktop.config import Settings

    settings = Settings(library_dir=str(tmp_path / "lib"), webhook_port=0)
    async with Runtime(settings, listen=False) as cli:  # the CLI: nothing is decoded
        assert cli.engine.outputs.ahead is None and cli.decoded is None
    async with Runtime(settings, listen=False, shows_results=True) as gui:
        assert gui.engine.outputs.ahead is gui.decoded is not None




@pytest.mark.asyncio
async def test_maps_made_in_process_come_decoded_too(tmp_path, ahead):
    from automata_desktop.config import LOCAL_SERVER
    from automata_desktop.paths import resources_dir
    from automata_desktop.runtime import load_workflow_named

    maps = resources_dir() / "samples"
    async with running_engine(tmp_path / "lib") as engine:
        engine.outputs.ahead = ahead
        [gen] = await engine.submit(request(load_workflow_named("pbr_from_image"), LOCAL_SERVER,
                                            image=maps / "sample_basecolor.png"))
        [done] = await engine.wait([gen.id], timeout=60)
    assert done.status is GenerationStatus.COMPLETED, done.error
    shown = ahead.filled(texture_set_of(done))
    assert MapKind.NORMAL in shown and MapKind.HEIGHT in shown
    for texture in shown:
        assert texture.is_loaded and np.array_equal(texture.pixels, load_image(texture.path))
