"""`automata-desktop [MESH] [--maps DIR] [--screenshot FILE]`: the desktop app's entry point.

With no mesh it opens the bundled sample with its PBR maps. `--screenshot` renders the window once,
writes the PNG and exits (0 on success, 1 if loading failed, 2 for bad arguments): used by CI and
the docs.
"""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from automata_desktop import __version__
from automata_desktop.desktop_entry import APP_ID

#: Give up on --screenshot if loading has not finished by then (a hung driver, a huge mesh).
SCREENSHOT_TIMEOUT_MS = 120_000


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="automata-desktop",
        description="AI texturing of 3D models with ComfyUI, previewed as PBR materials.",
    )
    parser.add_argument("mesh", nargs="?", type=Path,
                        help="mesh to open (.glb .gltf .obj .ply .stl .off); default: the sample")
    parser.add_argument("--maps", type=Path, metavar="DIR",
                        help="folder of texture maps named like *_basecolor.png, *_normal.png")
    parser.add_argument("--screenshot", type=Path, metavar="FILE",
                        help="render the window once, save it as PNG and exit")
    parser.add_argument("--size", default="1400x860", metavar="WxH",
                        help="window size (default 1400x860)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args = parser.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size must look like 1280x720, not {args.size!r}")
    args.size = (width, height)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    # Qt and VTK are imported late so `--help` and argument errors stay instant.
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from automata_desktop.config import Settings, load_settings
    from automata_desktop.controller.app_controller import AppController
    from automata_desktop.errors import ConfigError
    from automata_desktop.ui.main_window import MainWindow, sample_paths
    from automata_desktop.ui.theme import apply_dark_theme
    from automata_desktop.ui.workbench import Workbench

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("AUTOMATA Desktop")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_ID)  # Wayland/GNOME match the window to its launcher by this id
    settings_problem = ""
    try:
        settings = load_settings()
    except ConfigError as exc:  # a broken settings file must not keep the app from opening
        settings_problem = f"{exc}; using default settings for this run"
        settings = Settings()
    if settings.theme != "system":
        apply_dark_theme(app)

    shooting = args.screenshot is not None
    window = MainWindow(interactive=not shooting)
    window.resize(*args.size)
    errors: list[str] = []
    if settings_problem:
        window.show_error(settings_problem)
    window.failed.connect(errors.append)
    Workbench(window, AppController(settings))

    sample_mesh, sample_maps = sample_paths()
    window.open_mesh(args.mesh or sample_mesh)
    maps = args.maps or (None if args.mesh else sample_maps)
    if maps is not None:
        window.open_maps_folder(maps)
    window.show()
    # Everything built so far lives as long as the app: keep it out of the cyclic GC, whose full
    # passes over VTK/Qt wrappers otherwise freeze the window for a few hundred ms now and then.
    gc.freeze()

    if not shooting:
        return app.exec()

    status = {"code": 1, "shot": False}

    def shoot() -> None:
        if window.busy or status["shot"]:  # `idle` fires per finished job; wait for the last
            return
        status["shot"] = True
        try:
            window.save_screenshot(args.screenshot)
        except Exception as exc:  # report, never a traceback
            print(f"automata-desktop: {exc}", file=sys.stderr)
        else:
            print(f"Saved screenshot to {args.screenshot}")
            status["code"] = 1 if errors else 0
        for message in errors:
            print(f"automata-desktop: {message}", file=sys.stderr)
        app.quit()

    def give_up() -> None:
        print("automata-desktop: loading did not finish in time; no screenshot", file=sys.stderr)
        app.quit()

    # The first frame needs the window mapped; the shot waits for loading to settle.
    window.idle.connect(lambda: QTimer.singleShot(500, shoot))  # thumbnails follow
    QTimer.singleShot(SCREENSHOT_TIMEOUT_MS, give_up)
    app.exec()
    window.close()
    return status["code"]


if __name__ == "__main__":
    raise SystemExit(main())
