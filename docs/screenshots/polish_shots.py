"""The queue, Material, Display and Library docks at 1024×700 and 1600×1000, for looking at:
`xvfb-run -a -s "-screen 0 2600x1500x24" .venv/bin/python docs/screenshots/polish_shots.py`.

Against the fake ComfyUI from tests/: two finished in-process PBR sets, one cancelled server run,
one still running (live previews, an ETA). Writes polish-*.png and window-WxH.png (1024×700,
1280×720, 1600×1000) here, then runs itself again with QT_SCALE_FACTOR=2 for a 4K laptop: a
1280×720 logical window drawn at 2560×1440 pixels (window-2560x1440-dpr2.png).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
OUT = Path(__file__).resolve().parent


#: (logical width, height) -> file name; at device pixel ratio 2 only the laptop size.
WINDOW_SHOTS = {(1024, 700): "window-1024x700.png", (1280, 720): "window-1280x720.png",
                (1600, 1000): "window-1600x1000.png"}
HIDPI_SHOT = "window-2560x1440-dpr2.png"


def main() -> int:
    hidpi = "--hidpi" in sys.argv
    from PySide6.QtWidgets import QApplication

    from automata_desktop.ui.theme import apply_dark_theme

    app = QApplication.instance() or QApplication([])
    apply_dark_theme(app)
    from automata_desktop.config import ServerConfig
    from automata_desktop.core.generation import GenerationStatus
    from automata_desktop.runtime import all_workflows
    from tests.engine_helpers import save_graph, slow_graph, template
    from tests.fakecomfy.harness import FakeComfy
    from tests.gui.test_library_and_inspector import generate_locally
    from tests.gui.workbench_helpers import open_workbench, wait_for

    def settle(seconds: float) -> None:
        end = time.monotonic() + seconds
        wait_for(app, lambda: time.monotonic() > end and not window.busy, 60)

    tmp = Path(tempfile.mkdtemp(prefix="automata-polish-"))
    with FakeComfy(tmp / "comfy") as comfy:
        flows = {**all_workflows(),
                 "held": template(save_graph(), name="held", title="Held probe"),
                 "slow": template(slow_graph(steps=60, delay_s=0.25), name="slow",
                                  title="Slow probe with previews")}
        bench = open_workbench(app, tmp / "library", workflows=flows, with_maps=True,
                               servers=(ServerConfig(comfy.url, "studio GPU"),))
        window, panel = bench.window, bench.generation
        generate_locally(app, bench)
        generate_locally(app, bench)
        for name in ("held", "slow"):
            if name == "held":
                comfy.hold("2")
            panel.select(server=comfy.url, workflow=name)
            before = set(panel.queue.rows)
            panel.submit()
            wait_for(app, lambda b=before: set(panel.queue.rows) - b, 20)
            [gen_id] = set(panel.queue.rows) - before
            row = panel.queue.rows[gen_id]
            wait_for(app, lambda r=row: r.status is GenerationStatus.RUNNING, 20)
            if name == "held":
                bench.controller.cancel(gen_id)
                wait_for(app, lambda r=row: r.status.is_final, 20)
                comfy.release("2")
        wait_for(app, lambda: "left" in row.progress.format(), 60)  # the slow run's ETA

        def shoot(width: int, height: int, name: str) -> None:
            window.resize(width, height)
            bench._size_docks()
            settle(1.0)
            window.save_screenshot(OUT / name)

        # Picked from the keyboard: the running row in the queue, a finished set in the library.
        panel.queue.select(row.generation_id)
        done = next(g for g in bench.library.generations if g.status is GenerationStatus.COMPLETED)
        bench.library.select(done.id)
        if hidpi:
            shoot(1280, 720, HIDPI_SHOT)
            window.close()
            return 0
        for (width, height), name in WINDOW_SHOTS.items():
            shoot(width, height, name)
        for width, height in ((1024, 700), (1600, 1000)):
            window.resize(width, height)
            bench._size_docks()
            settle(1.0)
            window.save_screenshot(OUT / f"polish-{width}x{height}.png")
            window.display_dock.raise_()
            settle(0.3)
            window.save_screenshot(OUT / f"polish-display-{width}x{height}.png")
            window.right_dock.raise_()
        window.close()
    # A scale factor is fixed when the QApplication starts: the 4K shot needs its own process.
    env = {**os.environ, "QT_SCALE_FACTOR": "2"}
    return subprocess.run([sys.executable, __file__, "--hidpi"], env=env, check=False).returncode


if __name__ == "__main__":
    raise SystemExit(main())
