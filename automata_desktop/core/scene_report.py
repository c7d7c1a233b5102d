"""What the app sees in an asset, as plain data and as text (`automata inspect FILE [--json]`).

For pipeline scripts and bug reports, like `gltf-transform inspect`: a script reads the JSON, a
person the text. The JSON's top-level fields are a contract (tests/test_cli_inspect.py pins them):
`file`, `format`, `generator`, `up_axis` ("Y" | "Z"), `bounds` ([[minx, miny, minz], [maxx, maxy,
maxz]], world space), `triangles`, `vertices`, `objects`, `uv_sets`, `materials` (each {`name`,
`maps`: {kind: {`width`, `height`, `source`, `file`, `texcoord`}}, `factors`, ...}), `extensions`,
`notices`. Map kinds are core.material.MAP_KINDS.
"""

from __future__ import annotations

from typing import Any

from automata_desktop.core.material import DEFAULT_MATERIAL, Material, TextureRef
from automata_desktop.core.scene import Scene


def describe(scene: Scene) -> dict[str, Any]:
    """The scene as JSON-ready data. Reads image headers for sizes, decodes no pixels."""
    bounds = scene.bounds
    users: dict[int | None, list[str]] = {}
    objects = []
    for index in scene.objects:
        node = scene.nodes[index]
        assert node.mesh is not None
        mesh = scene.meshes[node.mesh]
        primitives = []
        for primitive in mesh.primitives:
            users.setdefault(primitive.material, []).append(primitive.name)
            primitives.append({
                "name": primitive.name,
                "material": scene.material_of(primitive).name,
                "triangles": primitive.triangle_count,
                "vertices": primitive.vertex_count,
                "uv_sets": [f"TEXCOORD_{i}" for i in range(len(primitive.uvs))],
                "generated_uvs": primitive.generated_uvs,
            })
        objects.append({"name": node.name, "mesh": mesh.name, "parent": _parent_name(scene, index),
                        "translation": [round(float(c), 6) for c in node.world[:3, 3]],
                        "primitives": primitives})
    materials = [_material(m, users.get(i, [])) for i, m in enumerate(scene.materials)]
    if None in users:
        materials.append(_material(DEFAULT_MATERIAL, users[None]))
    uv_sets = sorted({uv for o in objects for p in o["primitives"] for uv in p["uv_sets"]})
    return {
        "file": scene.name,
        "format": scene.format,
        "generator": scene.generator,
        "up_axis": scene.up_axis,
        "bounds": [[round(float(c), 6) for c in bounds[0]], [round(float(c), 6) for c in bounds[1]]],
        "triangles": scene.triangle_count,
        "vertices": scene.vertex_count,
        "objects": objects,
        "uv_sets": uv_sets,
        "materials": materials,
        "extensions": {"used": list(scene.extensions_used),
                       "required": list(scene.extensions_required)},
        "notices": list(scene.notices),
    }


def _parent_name(scene: Scene, index: int) -> str | None:
    parent = scene.nodes[index].parent
    return None if parent is None else scene.nodes[parent].name


def _material(material: Material, used_by: list[str]) -> dict[str, Any]:
    return {
        "name": material.name,
        "maps": {kind: _map(texture) for kind, texture in material.maps().items()},
        "factors": material.factors(),
        "extensions": list(material.extensions),
        "used_by": used_by,
    }


def _map(texture: TextureRef) -> dict[str, Any]:
    image = texture.image
    size = image.size()
    source = image.origin if image.exists else "missing"
    described: dict[str, Any] = {
        "width": size[0] if size else None,
        "height": size[1] if size else None,
        "source": source,  # "embedded" (in the file), "external" (a file beside it) or "missing"
        "file": image.name,
        "texcoord": texture.texcoord,
    }
    if texture.transform is not None:
        described["transform"] = {"offset": list(texture.transform.offset),
                                  "rotation": texture.transform.rotation,
                                  "scale": list(texture.transform.scale)}
    return described


def format_report(report: dict[str, Any]) -> str:
    """The report as a few readable blocks (what `automata inspect` prints without --json)."""
    low, high = report["bounds"]
    size = [h - lo for lo, h in zip(low, high, strict=True)]
    lines = [
        f"{report['file']}: {report['format']}"
        + (f" by {report['generator']}" if report.get("generator") else ""),
        f"  up axis     {report['up_axis']}",
        f"  bounds      min {_xyz(low)}  max {_xyz(high)}  (size {_xyz(size)})",
        f"  triangles   {report['triangles']:,}",
        f"  vertices    {report['vertices']:,}",
        f"  UV sets     {', '.join(report['uv_sets']) or 'none'}",
    ]
    extensions = report["extensions"]
    if extensions["used"]:
        required = set(extensions["required"])
        lines.append("  extensions  " + ", ".join(
            f"{name} (required)" if name in required else name for name in extensions["used"]))
    lines.append(f"objects ({len(report['objects'])})")
    for obj in report["objects"]:
        lines.append(f"  {obj['name']}" + (f"  (in {obj['parent']})" if obj["parent"] else ""))
        for primitive in obj["primitives"]:
            uvs = ", ".join(primitive["uv_sets"]) or "no UVs"
            if primitive["generated_uvs"]:
                uvs += " (generated)"
            lines.append(f"    {primitive['name']}: {primitive['triangles']:,} triangles, "
                         f"material {primitive['material']}, {uvs}")
    lines.append(f"materials ({len(report['materials'])})")
    for material in report["materials"]:
        factors = material["factors"]
        lines.append(f"  {material['name']}: base colour {_xyz(factors['baseColorFactor'])}, "
                     f"metallic {factors['metallicFactor']:g}, roughness {factors['roughnessFactor']:g}"
                     + (f", {factors['alphaMode'].lower()}" if factors["alphaMode"] != "OPAQUE" else ""))
        for kind, texture in material["maps"].items():
            size = f"{texture['width']}x{texture['height']}" if texture["width"] else "unreadable"
            lines.append(f"    {kind:<19} {size:<11} {texture['source']:<9} {texture['file']}"
                         f"  (TEXCOORD_{texture['texcoord']})")
    if report["notices"]:
        lines.append("notices")
        lines += [f"  - {notice}" for notice in report["notices"]]
    return "\n".join(lines)


def _xyz(values: list[float]) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"
