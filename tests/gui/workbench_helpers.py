"""A real window with the generation panel, inspector and library, running the real job engine."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from automata_desktop.config import ServerConfig, Settings, generate_webhook_secret
from automata_desktop.controller.app_controller import AppController
from automata_desktop.core.workflow import WorkflowTemplate
from automata_desktop.runtime import all_workflows
from automata_desktop.ui.main_window import MainWindow, sample_paths
from automata_desktop.ui.workbench import Workbench
from automata_desktop.viewport.textures import texture_pixels

DEAD_SERVER = "http://127.0.0.1:9"  # the discard port: nothing listens there


def wait_for(qapp, condition: Callable[[], object], timeout: float = 30.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or condition}")
        qapp.processEvents()
        time.sleep(0.01)


def open_workbench(qapp, library_dir: Path, *, servers: tuple[ServerConfig, ...] = (),
                   workflows: dict[str, WorkflowTemplate] | None = None,
                   with_maps: bool = False) -> Workbench:
    settings = Settings(
        servers=(ServerConfig(DEAD_SERVER, "dead server"), *servers), default_server="local",
        webhook_port=0, library_dir=str(library_dir), poll_interval_s=5.0,
        webhook_secret=generate_webhook_secret(),
    )
    window = MainWindow(interactive=False)
    window.resize(1300, 820)
    controller = AppController(settings, workflows=workflows or all_workflows())
    bench = Workbench(window, controller, settings_path=library_dir.parent / "settings.json")
    window.show()
    mesh, maps = sample_paths()
    window.open_mesh(mesh)
    if with_maps:
        window.open_maps_folder(maps)
    assert bench.controller.wait_ready(30), "the runtime did not start"
    wait_for(qapp, lambda: window.mesh is not None and not window.busy, 60, "the sample mesh")
    return bench


def albedo_pixels(window: MainWindow) -> np.ndarray | None:
    """The base colour texture bound to the mesh, as HxWxC rows top-first (like the file)."""
    texture = window.material_view.vtk_property.GetTexture("albedoTex")
    return None if texture is None else texture_pixels(texture)  # read back from the GPU
