"""Viewport benchmark: the AUTOMATA window against a bare pyvistaqt window, same run, same assets.

    xvfb-run -a .venv/bin/python bench/viewport.py [--triangles 200000] [--size 4096]

Measures, each in a fresh process (so peak RSS is that scenario's own):
- first frame: from process start (imports included) to the first rendered frame of the window;
- 4K set shown: from asking for a 200k-triangle mesh + a 5-map 4096² set to the first frame
  with the PBR maps bound (the app decodes on its thread pool, the baseline on the Qt thread;
  the app is timed once its generation runtime is up);
- peak RSS of the process;
- texture RSS: resident set after the set is shown minus the resident set of the same scenario
  run without the set (mesh only), beside the raw bytes of the decoded maps. Goal: at most 2x.
- a multi-material GLB row: a 1M-triangle GLB of `--materials` materials, each with its own
  embedded 4K base colour, normal and ORM (occlusion + metallic-roughness in one image, as
  Blender writes it), opened as a user opens it (File → Open mesh) against a bare pyvistaqt
  window that loads it with trimesh and binds the same textures per geometry; texture RSS is
  against the same GLB without images.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START = time.perf_counter()
REPO = Path(__file__).resolve().parents[1]

import numpy as np  # noqa: E402  (after START: the first frame counts every import)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def rss_mb() -> float:
    """Resident set now (not the peak): what the process keeps once loading is over."""
    import gc

    gc.collect()
    resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def raw_pixel_mb(maps: Path) -> float:
    """Bytes of every map decoded at its stored depth (8-bit channels here)."""
    from PIL import Image

    total = 0
    for path in maps.glob("*.png"):
        with Image.open(path) as image:
            total += image.width * image.height * len(image.getbands())
    return total / 2**20


def first_frame_probe(render_window) -> dict[str, float]:
    """Records when the next render ends (perf_counter seconds)."""
    marks: dict[str, float] = {}
    render_window.AddObserver("EndEvent", lambda *_: marks.setdefault("end", time.perf_counter()))
    return marks


def wait(app, condition, timeout: float = 300.0) -> None:
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise SystemExit("benchmark step timed out")
        app.processEvents()
        time.sleep(0.002)


def run_app(mesh: Path, maps: Path | None) -> dict[str, float]:
    from PySide6.QtWidgets import QApplication

    from automata_desktop.config import Settings, generate_webhook_secret
    from automata_desktop.controller.app_controller import AppController
    from automata_desktop.core.texture_set import TextureSet
    from automata_desktop.ui.main_window import MainWindow
    from automata_desktop.ui.theme import apply_dark_theme
    from automata_desktop.ui.workbench import Workbench

    app = QApplication([])
    apply_dark_theme(app)
    window = MainWindow()
    window.resize(1400, 860)
    library = Path(tempfile.mkdtemp(prefix="bench-lib-"))
    bench = Workbench(window, AppController(Settings(
        servers=(), default_server="local", webhook_port=0,
        webhook_secret=generate_webhook_secret(), library_dir=str(library))))
    marks = first_frame_probe(window.viewport.ren_win)
    window.show()
    window.viewport.render()
    wait(app, lambda: "end" in marks)
    first_frame = marks["end"] - START
    # The generation runtime starts beside the first frame; the set is timed once it is up, as
    # when a user opens a file (starting it costs ~1 s of CPU that would otherwise count here).
    bench.controller.wait_ready(60)
    app.processEvents()

    shown: dict[str, float] = {}
    window.textures_shown.connect(lambda _: shown.setdefault("textures", time.perf_counter()))
    window.mesh_shown.connect(lambda _: shown.setdefault("mesh", time.perf_counter()))
    asked = time.perf_counter()
    window.open_mesh(mesh)
    if maps is not None:
        window.show_texture_set(TextureSet.from_folder(maps), derive_missing=False)
    wait(app, lambda: {"mesh"} | ({"textures"} if maps else set()) <= set(shown)
         and not window.busy)
    window.viewport.render()  # both callbacks rendered already; this frame has everything bound
    ready = time.perf_counter() - asked
    assert maps is None or window.material_view.vtk_property.GetTexture("albedoTex") is not None
    result = {"first_frame_s": first_frame, "set_shown_s": ready, "peak_rss_mb": peak_rss_mb(),
              "rss_mb": rss_mb()}
    window.close()
    return result


def multi_material_glb(path: Path, triangles: int, size: int, materials: int,
                       textured: bool) -> Path:
    """`materials` side-by-side sheets of triangles/materials triangles, each its own material
    with (if `textured`) embedded PNG base colour, normal and ORM maps of `size`²."""
    from PIL import Image

    from tests.fixtures.assets import ELEMENT_ARRAY_BUFFER, GltfWriter

    writer = GltfWriter("AUTOMATA bench")
    n = int(np.ceil(np.sqrt(triangles / materials / 2)))
    u, v = np.meshgrid(np.linspace(0, 1, n + 1, dtype=np.float32),
                       np.linspace(0, 1, n + 1, dtype=np.float32))
    idx = np.arange((n + 1) * (n + 1), dtype=np.uint32).reshape(n + 1, n + 1)
    a, b, c, d = idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:]
    faces = np.concatenate([np.stack([a, d, b], -1).reshape(-1, 3),
                            np.stack([a, c, d], -1).reshape(-1, 3)]).ravel()
    uv = np.stack([u, 1 - v], -1).reshape(-1, 2)
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    x, y = np.meshgrid(ramp, ramp)
    tiles = ((np.floor(x / 32) + np.floor(y / 32)) % 2).astype(np.float32)
    gray = (x * 0.5 + tiles * 80).astype(np.uint8)

    def png(pixels: np.ndarray, name: str) -> dict:
        out = io.BytesIO()
        Image.fromarray(pixels).save(out, "PNG", compress_level=1)
        image = writer.embedded_image(out.getvalue(), "image/png", name)
        return {"index": writer.add("textures", {"source": image})}

    primitives = []
    for m in range(materials):
        z = 0.05 * np.sin(u * 12 + m) * np.cos(v * 9)
        positions = np.stack([u - 0.5 + m * 1.1, v - 0.5, z], -1).reshape(-1, 3)
        normals = np.tile(np.array([0, 0, 1], np.float32), (len(positions), 1))
        material: dict = {"name": f"part {m}", "pbrMetallicRoughness": {}}
        if textured:
            tint = np.uint8(60 + 150 * m / max(1, materials - 1))
            material["pbrMetallicRoughness"]["baseColorTexture"] = png(
                np.stack([gray, (y * 0.8).astype(np.uint8), np.full_like(gray, tint)], -1),
                f"base {m}")
            material["normalTexture"] = png(np.dstack([np.full_like(gray, 128)] * 2
                                                      + [np.full_like(gray, 255)]), f"normal {m}")
            orm = png(np.stack([np.full_like(gray, 230), gray, (tiles * 255).astype(np.uint8)],
                               -1), f"orm {m}")
            material["pbrMetallicRoughness"]["metallicRoughnessTexture"] = orm
            material["occlusionTexture"] = dict(orm)
        writer.add("materials", material)
        primitives.append({"attributes": {
            "POSITION": writer.accessor(positions.astype(np.float32), bounds=True),
            "NORMAL": writer.accessor(normals),
            "TEXCOORD_0": writer.accessor(uv.astype(np.float32))},
            "indices": writer.accessor(faces, target=ELEMENT_ARRAY_BUFFER), "material": m})
    writer.doc["meshes"] = [{"name": "sheets", "primitives": primitives}]
    writer.doc["nodes"] = [{"mesh": 0, "name": "sheets"}]
    writer.doc["scenes"] = [{"nodes": [0]}]
    writer.doc["scene"] = 0
    return writer.glb(path)


def glb_raw_pixel_mb(size: int, materials: int) -> float:
    """Decoded bytes of the GLB's maps: three RGB images of size² per material."""
    return materials * 3 * size * size * 3 / 2**20


def run_app_glb(mesh: Path, _maps: Path | None) -> dict[str, float]:
    from PySide6.QtWidgets import QApplication

    from automata_desktop.ui.main_window import MainWindow
    from automata_desktop.ui.theme import apply_dark_theme

    app = QApplication([])
    apply_dark_theme(app)
    window = MainWindow()
    window.resize(1400, 860)
    marks = first_frame_probe(window.viewport.ren_win)
    window.show()
    window.viewport.render()
    wait(app, lambda: "end" in marks)
    first_frame = marks["end"] - START
    shown: dict[str, float] = {}
    window.mesh_shown.connect(lambda _: shown.setdefault("mesh", time.perf_counter()))
    asked = time.perf_counter()
    window.open_mesh(mesh)
    wait(app, lambda: "mesh" in shown and not window.busy)
    window.viewport.render()
    ready = time.perf_counter() - asked
    result = {"first_frame_s": first_frame, "set_shown_s": ready, "peak_rss_mb": peak_rss_mb(),
              "rss_mb": rss_mb(), "actors": len(window.scene_view.views)}
    window.close()
    return result


def bare_window():
    """The baseline both bare rows share: a QMainWindow holding a pyvistaqt interactor, shown,
    with the time to its first frame measured from the process start."""
    from PySide6.QtWidgets import QApplication, QMainWindow
    from pyvistaqt import QtInteractor

    app = QApplication([])
    window = QMainWindow()
    window.resize(1400, 860)
    plotter = QtInteractor(window, auto_update=False)
    window.setCentralWidget(plotter.interactor)
    marks = first_frame_probe(plotter.ren_win)
    window.show()
    plotter.render()
    wait(app, lambda: "end" in marks)
    return app, window, plotter, marks["end"] - START


def run_bare_glb(mesh: Path, _maps: Path | None) -> dict[str, float]:
    """A bare pyvistaqt window: trimesh reads the GLB, one PBR actor per geometry, its maps bound."""
    import pyvista as pv
    import trimesh

    _app, window, plotter, first_frame = bare_window()  # _app keeps the QApplication alive

    def texture(image, srgb: bool = False) -> pv.Texture:
        tex = pv.Texture(np.asarray(image.convert("RGB")))
        tex.SetUseSRGBColorSpace(srgb)
        tex.mipmap = True
        return tex

    asked = time.perf_counter()
    scene = trimesh.load(mesh)
    for geometry in scene.geometry.values():
        faces = np.hstack([np.full((len(geometry.faces), 1), 3), geometry.faces]).ravel()
        poly = pv.PolyData(np.asarray(geometry.vertices, np.float32), faces)
        poly.active_texture_coordinates = np.asarray(geometry.visual.uv, np.float32)
        poly = poly.compute_normals(split_vertices=False)
        actor = plotter.add_mesh(poly, pbr=True, color="white", render=False)
        material = geometry.visual.material
        prop = actor.GetProperty()
        if getattr(material, "baseColorTexture", None) is not None:
            prop.SetBaseColorTexture(texture(material.baseColorTexture, srgb=True))
        if getattr(material, "normalTexture", None) is not None:
            prop.SetNormalTexture(texture(material.normalTexture))
        if getattr(material, "metallicRoughnessTexture", None) is not None:
            prop.SetORMTexture(texture(material.metallicRoughnessTexture))
    plotter.reset_camera(render=False)
    plotter.render()
    ready = time.perf_counter() - asked
    result = {"first_frame_s": first_frame, "set_shown_s": ready, "peak_rss_mb": peak_rss_mb(),
              "rss_mb": rss_mb(), "actors": len(scene.geometry)}
    window.close()
    return result


def run_bare(mesh: Path, maps: Path | None) -> dict[str, float]:
    """The least a pyvistaqt app does: load on the Qt thread, bind PBR textures, render."""
    import numpy as np
    import pyvista as pv
    import trimesh
    from PIL import Image

    _app, window, plotter, first_frame = bare_window()  # _app keeps the QApplication alive

    asked = time.perf_counter()
    loaded = trimesh.load(mesh, force="mesh")
    faces = np.hstack([np.full((len(loaded.faces), 1), 3), loaded.faces]).ravel()
    poly = pv.PolyData(np.asarray(loaded.vertices, np.float32), faces)
    poly.active_texture_coordinates = np.asarray(loaded.visual.uv, np.float32)
    poly = poly.compute_normals(split_vertices=False)

    def image(name: str) -> np.ndarray:
        return np.asarray(Image.open(next(maps.glob(f"*_{name}.png"))))

    def texture(pixels: np.ndarray, srgb: bool = False) -> pv.Texture:
        tex = pv.Texture(pixels)
        tex.SetUseSRGBColorSpace(srgb)
        tex.mipmap = True
        return tex

    actor = plotter.add_mesh(poly, pbr=True, color="white", render=False)
    if maps is not None:
        orm = np.stack([image("ao"), image("roughness"), image("metallic")], -1)
        prop = actor.GetProperty()
        prop.SetBaseColorTexture(texture(image("basecolor"), srgb=True))
        prop.SetNormalTexture(texture(image("normal")))
        prop.SetORMTexture(texture(orm))
    plotter.reset_camera(render=False)
    plotter.render()
    ready = time.perf_counter() - asked
    result = {"first_frame_s": first_frame, "set_shown_s": ready, "peak_rss_mb": peak_rss_mb(),
              "rss_mb": rss_mb()}
    window.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triangles", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--materials", type=int, default=2,
                        help="materials of the multi-material GLB row (each with three 4K maps)")
    parser.add_argument("--glb-triangles", type=int, default=1_000_000)
    parser.add_argument("--child", choices=("app", "bare", "app-glb", "bare-glb"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--mesh", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--maps", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--no-maps", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.no_maps:
            args.maps = None
        runner = {"app": run_app, "bare": run_bare, "app-glb": run_app_glb,
                  "bare-glb": run_bare_glb}[args.child]
        print("RESULT " + json.dumps(runner(args.mesh, args.maps)), flush=True)
        return 0

    sys.path.insert(0, str(REPO))
    from tests.gui.big_assets import grid_mesh, map_set

    work = Path(tempfile.mkdtemp(prefix="bench-viewport-"))
    mesh = grid_mesh(work / "mesh.glb", args.triangles)
    maps = map_set(work / "maps", args.size)
    env = {**os.environ, "AUTOMATA_CONFIG_DIR": str(work / "config"),
           "AUTOMATA_DATA_DIR": str(work / "data"), "PYTHONPATH": str(REPO)}
    glbs = {textured: multi_material_glb(work / f"scene-{textured}.glb", args.glb_triangles,
                                         args.size, args.materials, textured)
            for textured in (False, True)}
    results = {}
    runs = [(child, with_maps, mesh) for child in ("bare", "app") for with_maps in (False, True)]
    runs += [(f"{child}-glb", textured, glbs[textured]) for child in ("bare", "app")
             for textured in (False, True)]
    for child, with_maps, path in runs:
        extra = ["--maps", str(maps)] if with_maps and "glb" not in child else ["--no-maps"]
        out = subprocess.run([sys.executable, __file__, "--child", child, "--mesh", str(path),
                              *extra], env=env, capture_output=True, text=True, timeout=900)
        line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            print(out.stderr[-3000:], file=sys.stderr)
            return 1
        results[child, with_maps] = json.loads(line.removeprefix("RESULT "))
    for child in ("bare", "app", "bare-glb", "app-glb"):
        results[child] = results[child, True]
        results[child]["texture_rss_mb"] = results[child]["rss_mb"] - results[child, False]["rss_mb"]
    raw = raw_pixel_mb(maps)
    print(f"{args.triangles:,} triangles, five {args.size}² maps ({raw:.0f} MB of raw pixels)")
    print(f"{'':22}{'bare pyvistaqt':>16}{'AUTOMATA':>12}")
    for key, label in (("first_frame_s", "first frame (s)"), ("set_shown_s", "4K set shown (s)"),
                       ("peak_rss_mb", "peak RSS (MB)"), ("rss_mb", "RSS after (MB)"),
                       ("texture_rss_mb", "texture RSS (MB)")):
        print(f"{label:22}{results['bare'][key]:>16.2f}{results['app'][key]:>12.2f}")
    ratio = results["app"]["texture_rss_mb"] / raw
    print(f"AUTOMATA texture RSS = {ratio:.2f}x the raw pixel bytes (goal: at most 2x)")
    frame_ratio = results["app"]["first_frame_s"] / results["bare"]["first_frame_s"]
    print(f"AUTOMATA first frame = {frame_ratio:.2f}x the bare window's (goal: at most 1.3x)")

    glb_raw = glb_raw_pixel_mb(args.size, args.materials)
    print(f"\n{args.glb_triangles:,}-triangle GLB, {args.materials} materials, each with "
          f"embedded {args.size}² base colour, normal and ORM ({glb_raw:.0f} MB of raw pixels)")
    print(f"{'':22}{'bare pyvistaqt':>16}{'AUTOMATA':>12}")
    for key, label in (("first_frame_s", "first frame (s)"), ("set_shown_s", "GLB shown (s)"),
                       ("actors", "actors"), ("peak_rss_mb", "peak RSS (MB)"),
                       ("rss_mb", "RSS after (MB)"), ("texture_rss_mb", "texture RSS (MB)")):
        print(f"{label:22}{results['bare-glb'][key]:>16.2f}{results['app-glb'][key]:>12.2f}")
    glb_ratio = results["app-glb"]["texture_rss_mb"] / glb_raw
    glb_frame = results["app-glb"]["first_frame_s"] / results["bare-glb"]["first_frame_s"]
    print(f"AUTOMATA GLB texture RSS = {glb_ratio:.2f}x the raw pixel bytes (goal: at most 2x); "
          f"first frame {glb_frame:.2f}x the bare window's (goal: at most 1.3x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
