"""The one owner of what each material of the open scene shows (no Qt, no VTK): a new file shows
its own maps and nothing of the last one; a generation goes over the file's own maps; a map the
user replaced by hand survives a generation that lands by itself, not one the user applies; maps
deleted with their generation come off and the file's own come back; an export writes only the
materials that changed."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from automata_desktop.core.maps import MapKind
from automata_desktop.core.scene import Scene
from automata_desktop.core.scene_maps import SceneMaps
from automata_desktop.core.texture_set import MapSource, TextureMap, TextureSet

PIXELS = np.zeros((4, 4, 3), np.uint8)


def embedded(kind: MapKind) -> TextureMap:
    return TextureMap(kind, MapSource.EMBEDDED, pixels=PIXELS)


def generated(kind: MapKind, name: str) -> TextureMap:
    return TextureMap(kind, MapSource.GENERATED, path=Path(f"/lib/{name}/{kind.value}.png"))


def a_scene(name: str = "helmet.glb") -> Scene:
    return Scene(nodes=(), roots=(), meshes=(), source=Path(name))


def opened() -> SceneMaps:
    maps = SceneMaps()
    maps.open(a_scene(), {0: TextureSet({MapKind.BASE_COLOR: embedded(MapKind.BASE_COLOR),
                                         MapKind.NORMAL: embedded(MapKind.NORMAL)}),
                          1: TextureSet({MapKind.BASE_COLOR: embedded(MapKind.BASE_COLOR)})})
    return maps


def land(maps: SceneMaps, keys, textures: TextureSet, **how) -> None:
    """As the window does: ask what each material shows next, decode, show it."""
    for key, next_set in maps.incoming(keys, textures, **how).items():
        maps.show(key, next_set)


def generation(name: str, *kinds: MapKind) -> TextureSet:
    return TextureSet({k: generated(k, name) for k in kinds})


def test_a_generation_goes_over_the_files_own_maps_on_its_material_only():
    maps = opened()
    land(maps, [0], generation("g1", MapKind.BASE_COLOR, MapKind.ROUGHNESS), merge="set")
    shown = maps.shown[0]
    assert shown.get(MapKind.BASE_COLOR).source is MapSource.GENERATED
    assert shown.get(MapKind.NORMAL).source is MapSource.EMBEDDED  # the file's normal stays
    assert maps.shown[1].get(MapKind.BASE_COLOR).source is MapSource.EMBEDDED
    assert list(maps.changed()) == [0]


def test_a_map_replaced_by_hand_survives_a_generation_landing_by_itself_not_an_applied_one():
    maps = opened()
    land(maps, [0], generation("g1", MapKind.BASE_COLOR, MapKind.ROUGHNESS), merge="set")
    mine = TextureMap(MapKind.ROUGHNESS, MapSource.IMPORTED, path=Path("/home/me/rough.png"))
    land(maps, [0], TextureSet({MapKind.ROUGHNESS: mine}), merge="layer", pin=[MapKind.ROUGHNESS])
    land(maps, [0], generation("g2", MapKind.BASE_COLOR, MapKind.ROUGHNESS), merge="set",
         keep_pinned=True)
    assert maps.shown[0].get(MapKind.ROUGHNESS).path == mine.path
    assert maps.shown[0].get(MapKind.BASE_COLOR).path == Path("/lib/g2/base_color.png")
    land(maps, [0], generation("g2", MapKind.BASE_COLOR, MapKind.ROUGHNESS), merge="set")
    assert maps.shown[0].get(MapKind.ROUGHNESS).path == Path("/lib/g2/roughness.png")


def test_maps_deleted_with_their_generation_come_off_and_the_files_own_come_back():
    maps = opened()
    land(maps, [0, 1], generation("g1", MapKind.BASE_COLOR, MapKind.NORMAL), merge="set")
    derived = TextureMap(MapKind.HEIGHT, MapSource.DERIVED, pixels=PIXELS)
    maps.show(0, maps.shown[0].with_map(derived))
    gone = [Path("/lib/g1/base_color.png"), Path("/lib/g1/normal.png")]
    after = maps.without_files(gone)
    assert set(after) == {0, 1}
    assert set(after[0].kinds) == {MapKind.BASE_COLOR, MapKind.NORMAL}
    assert all(t.source is MapSource.EMBEDDED for t in after[0])  # derived went with the colour
    assert set(after[1].kinds) == {MapKind.BASE_COLOR}  # material 1 had no normal of its own
    assert maps.without_files([Path("/lib/other/base_color.png")]) == {}


def test_a_new_file_shows_its_own_maps_and_forgets_the_last_ones_pins():
    maps = opened()
    mine = TextureMap(MapKind.ROUGHNESS, MapSource.IMPORTED, path=Path("/home/me/rough.png"))
    land(maps, [0], TextureSet({MapKind.ROUGHNESS: mine}), merge="layer", pin=[MapKind.ROUGHNESS])
    truck = a_scene("truck.glb")
    maps.open(truck, {0: TextureSet({MapKind.BASE_COLOR: embedded(MapKind.BASE_COLOR)})})
    assert maps.scene is truck and maps.changed() == {} and maps.pinned == {}
    land(maps, [0], generation("g3", MapKind.BASE_COLOR, MapKind.ROUGHNESS), merge="set",
         keep_pinned=True)
    assert maps.shown[0].get(MapKind.ROUGHNESS).path == Path("/lib/g3/roughness.png")
