"""Which maps each material of the open scene shows, and the rules for what changes them.

The one owner of that state (the window only draws it): a new file resets it to the file's own
maps; a generation's set goes over them without undoing a map the user replaced by hand unless
asked; dropped files layer over what is there; maps whose files were deleted with their
generation come off, and a slot falls back to the file's own map. Knows nothing of Qt or VTK:
a material is a key (an index into `Scene.materials`, or None), and where new maps go (the
selected material, or all that share its UV layout) is the caller's to say.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from automata_desktop.core.maps import MapKind
from automata_desktop.core.scene import Scene
from automata_desktop.core.texture_set import MapSource, TextureMap, TextureSet

#: the maps VTK packs into one ORM texture: an ORM map and a separate one of these exclude each other
ORM_PARTS = frozenset({MapKind.AO, MapKind.ROUGHNESS, MapKind.METALLIC})
MaterialKey = Hashable  # an index into Scene.materials; None: primitives without a material

#: How a set meets a material's maps: None, it is the whole set; "set", a new set over the file's
#: own maps (a folder, a generation); "layer", single maps over what is there (dropped files).
Merge = Literal["set", "layer"] | None


def merged_set(current: TextureSet, incoming: TextureSet, merge: Merge = "set", *,
               pinned: frozenset[MapKind] = frozenset()) -> TextureSet:
    """`incoming` laid over a material's `current` maps.

    "set": the file's own (EMBEDDED) maps stay where `incoming` has none of their kind (a GLB's
    normal map under a generated base colour); an earlier set's maps go. "layer": every current
    map stays unless `incoming` brings its kind. Either way derived maps go when a new base
    colour comes, and `pinned` kinds (maps the user replaced by hand) stay over `incoming`.
    """
    new_colour = MapKind.BASE_COLOR in incoming
    maps = {k: t for k, t in current.maps.items()
            if (merge == "layer" or t.source is MapSource.EMBEDDED)
            and not (new_colour and t.source is MapSource.DERIVED)}
    for texture in incoming:
        _overlay(maps, texture)
    for kind in pinned:
        texture = current.get(kind)
        if texture is not None:
            _overlay(maps, texture)
    return TextureSet(maps, incoming.name or current.name)


def _overlay(maps: dict[MapKind, TextureMap], texture: TextureMap) -> None:
    """Put `texture` in `maps`, dropping what it would shadow or be shadowed by in VTK's ORM."""
    if texture.kind is MapKind.ORM:
        for part in ORM_PARTS:
            maps.pop(part, None)
    elif texture.kind in ORM_PARTS:
        orm = maps.get(MapKind.ORM)
        if orm is not None and orm.source is not texture.source:
            maps.pop(MapKind.ORM)
    maps[texture.kind] = texture


@dataclass
class SceneMaps:
    """The open scene and, per material, the maps it shows, the file's own maps and the kinds
    the user replaced by hand."""

    scene: Scene | None = None
    shown: dict[MaterialKey, TextureSet] = field(default_factory=dict)
    own: dict[MaterialKey, TextureSet] = field(default_factory=dict)
    pinned: dict[MaterialKey, set[MapKind]] = field(default_factory=dict)

    def open(self, scene: Scene, own: dict[MaterialKey, TextureSet]) -> None:
        """A new file shows its own materials: nothing of the previous scene's maps carries
        over, nor any pin."""
        self.scene = scene
        self.shown, self.own, self.pinned = dict(own), dict(own), {}

    def incoming(self, keys: Iterable[MaterialKey], textures: TextureSet, *,
                 merge: Merge = None, keep_pinned: bool = False,
                 pin: Iterable[MapKind] = ()) -> dict[MaterialKey, TextureSet]:
        """What each of `keys` is to show once `textures` arrive (see `merged_set`), with the
        pins updated: `keep_pinned` keeps the maps the user replaced by hand (a generation that
        landed by itself), and `pin` marks kinds of `textures` as replaced by hand. The shown
        maps change once the caller has decoded them (`show`)."""
        out = {}
        for key in keys:
            current = self.shown.get(key, TextureSet())
            pinned = self.pinned.setdefault(key, set())
            kept = frozenset(pinned) if keep_pinned and merge is not None else frozenset()
            if merge is None:  # the set was made from this one: its pins still stand
                pinned.intersection_update(textures.kinds)
            elif merge == "set" and not keep_pinned:
                pinned.clear()
            elif not keep_pinned:
                pinned.difference_update(textures.kinds)
            pinned.update(pin)
            out[key] = textures if merge is None \
                else merged_set(current, textures, merge, pinned=kept)
        return out

    def without_files(self, paths: Collection[Path]) -> dict[MaterialKey, TextureSet]:
        """What each material that showed a map read from `paths` (deleted with its generation)
        is to show instead: maps derived from a removed base colour go with it, and a slot falls
        back to the file's own map where the file had one. Materials not touched are absent."""
        gone = {Path(p) for p in paths}
        out = {}
        for key, textures in self.shown.items():
            doomed = {t.kind for t in textures if t.path is not None and t.path in gone}
            if not doomed:
                continue
            kept = textures
            for texture in textures:
                if texture.kind in doomed or (MapKind.BASE_COLOR in doomed
                                              and texture.source is MapSource.DERIVED):
                    kept = kept.without(texture.kind)
            for texture in self.own.get(key, TextureSet()):
                if texture.kind not in kept:
                    kept = kept.with_map(texture)
            self.pinned.get(key, set()).difference_update(doomed)
            out[key] = kept
        return out

    def show(self, key: MaterialKey, textures: TextureSet) -> None:
        """`textures` (decoded) are what `key` shows now."""
        self.shown[key] = textures

    def changed(self) -> dict[MaterialKey, TextureSet]:
        """The materials showing anything but the file's own maps (what an export must write)."""
        return {key: textures for key, textures in self.shown.items()
                if any(t.source is not MapSource.EMBEDDED for t in textures)}
