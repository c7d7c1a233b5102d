"""Regenerate the docs screenshots: `xvfb-run -a python docs/screenshots/make_screenshots.py`.

Drives the real window against the fake ComfyUI from tests/ (live previews need a server that
speaks the protocol) and writes idle, generating, finished, map_view and library PNGs here.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
OUT = Path(__file__).resolve().parent


def brick_texture(size: int = 512) -> np.ndarray:
    """A warm brick wall, so the finished shot differs from the sample's teal tiles at a glance."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:size, 0:size]
    row = y // 32
    offset = (row % 2) * 32
    mortar = ((y % 32) < 3) | (((x + offset) % 64) < 3)
    tint = rng.uniform(0.75, 1.1, (size // 32 + 1, size // 64 + 2))[row, (x + offset) // 64]
    noise = rng.normal(0, 0.05, (size, size))
    rgb = np.stack([0.62 * tint, 0.27 * tint, 0.18 * tint], -1) + noise[..., None]
    rgb[mortar] = (0.72, 0.70, 0.66)
    return (np.clip(rgb, 0, 1) * 255).astype(np.uint8)


def main() -> int:
    from PySide6.QtWidgets import QApplication

    from automata_desktop.config import ServerConfig, Settings, generate_webhook_secret
    from automata_desktop.controller.app_controller import AppController
    from automata_desktop.core.workflow import parse_workflow
    from automata_desktop.runtime import all_workflows
    from automata_desktop.ui.main_window import MainWindow, sample_paths
    from automata_desktop.ui.theme import apply_dark_theme
    from automata_desktop.ui.workbench import Workbench
    from tests.fakecomfy.harness import FakeComfy

    app = QApplication.instance() or QApplication([])
    apply_dark_theme(app)
    tmp = Path(tempfile.mkdtemp(prefix="automata-shots-"))
    reference = tmp / "brick_reference.png"
    Image.fromarray(brick_texture()).save(reference)
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": ""}},
        "2": {"class_type": "ProbeSlowProgress",
              "inputs": {"images": ["1", 0], "steps": 12, "delay_s": 0.35, "send_preview": True}},
        "3": {"class_type": "SaveImage",
              "inputs": {"images": ["2", 0], "filename_prefix": "automata/brick_basecolor"}},
    }
    demo = parse_workflow(graph, name="paint_demo", manifest={
        "title": "Texture from a reference (demo)",
        "description": "Stands in for a diffusion workflow on the fake ComfyUI.",
        "parameters": {"image": {"type": "image", "bind": ["1.image"], "required": True}},
        "node_packs": [{"name": "ComfyUI core", "nodes": ["LoadImage", "SaveImage"]}],
    })

    def pump(condition, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise SystemExit("timed out while making screenshots")
            app.processEvents()
            time.sleep(0.01)

    def settle(seconds: float = 0.6) -> None:
        pump(lambda: not window.busy)
        end = time.monotonic() + seconds
        pump(lambda: time.monotonic() > end)

    with FakeComfy(tmp / "comfy") as comfy:
        settings = Settings(servers=(ServerConfig(comfy.url, "studio GPU"),),
                            default_server=comfy.url, webhook_port=0,
                            webhook_secret=generate_webhook_secret(),
                            library_dir=str(tmp / "library"))
        window = MainWindow(interactive=False)
        window.resize(1440, 900)
        bench = Workbench(window, AppController(
            settings, workflows={**all_workflows(), "paint_demo": demo}))
        window.show()
        mesh, maps = sample_paths()
        window.open_mesh(mesh)
        window.open_maps_folder(maps)
        panel = bench.generation
        panel.select(server=comfy.url, workflow="paint_demo")
        panel.set_image_path(reference)
        pump(lambda: comfy.url in panel.statuses and panel.readiness.text().startswith("✓"))
        settle()
        window.save_screenshot(OUT / "idle.png")

        panel.submit()
        pump(lambda: panel.queue.rows)
        [row] = panel.queue.rows.values()
        pump(lambda: row.progress.value() > 450 and not row.preview.pixmap().isNull())
        window.save_screenshot(OUT / "generating.png")

        pump(lambda: row.status.is_final)
        pump(lambda: window.texture_set is not None and "brick" in str(
            window.texture_set.get(next(iter(window.texture_set.kinds))).path or ""))
        settle(1.0)
        window.save_screenshot(OUT / "finished.png")

        from automata_desktop.core.maps import MapKind
        bench.view_map(MapKind.NORMAL)
        settle()
        view = bench.map_view
        view.canvas.zoom_by(2.0)
        view._hover(200.0, 120.0)
        settle()
        window.save_screenshot(OUT / "map_view.png")

        # A second, in-process generation so the library shows more than one row.
        panel.select(server="local", workflow="pbr_from_image")
        panel.set_image_path(maps / "sample_basecolor.png")
        panel.submit()
        pump(lambda: len(panel.queue.rows) == 2
             and all(r.status.is_final for r in panel.queue.rows.values()))
        bench.library_dock.raise_()
        bench.library.refresh()
        settle(1.5)
        bench.library.tree.setCurrentItem(bench.library.tree.topLevelItem(1))
        settle(0.3)
        window.save_screenshot(OUT / "library.png")
        window.close()
    print(f"screenshots written to {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
