"""What a user installs works away from the source tree: the wheel in a fresh virtual environment,
and the one-folder app PyInstaller builds. Both must start the CLI and render the GUI's first frame.

The two builds are `slow` (about 1 and 2-3 minutes here); the packaging checks at the top are fast.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import automata_desktop
from automata_desktop.desktop_entry import CLI_EXECUTABLE, GUI_EXECUTABLE

ROOT = Path(__file__).resolve().parent.parent
FROZEN_SIZE_BUDGET_MB = 700
BIN = "Scripts" if sys.platform == "win32" else "bin"


# -- helpers ------------------------------------------------------------------------------------


def shipped_workflows() -> set[str]:
    return {p.stem for p in (ROOT / "resources" / "workflows").glob("*.json")
            if not p.name.endswith(".manifest.json")}


def outside_env(tmp: Path) -> dict[str, str]:
    """The environment of a user's shell: nothing pointing into the checkout or its venv."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if not p.startswith(str(ROOT)))
    env["HOME"] = str(tmp)
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 180
        ) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{cmd} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result


def under_xvfb(cmd: list[str]) -> list[str]:
    if not shutil.which("xvfb-run"):
        pytest.skip("needs xvfb-run (apt install xvfb) to render the GUI")
    return ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", *cmd]


def assert_shows_the_textured_sample(png: Path) -> None:
    """The viewport's middle holds the lit, textured sample: many colours, bright tiles.
    A blank or black viewport has a few dozen colours of the background gradient and no bright pixels."""
    assert png.is_file(), "no screenshot was written"
    pixels = np.asarray(Image.open(png).convert("RGB"))
    h, w, _ = pixels.shape
    middle = pixels[int(h * 0.3):int(h * 0.6), int(w * 0.4):int(w * 0.6)].reshape(-1, 3)
    colours = len(np.unique(middle, axis=0))
    bright = float((middle.mean(axis=1) > 100).mean())
    assert colours > 500 and bright > 0.05, f"blank-looking viewport: {colours} colours, {bright:.1%} bright"


def fake_comfyui(tmp: Path) -> Path:
    comfy = tmp / "ComfyUI"
    (comfy / "custom_nodes").mkdir(parents=True)
    (comfy / "main.py").write_text("# ComfyUI\n")
    return comfy


def check_installation(gui: Path, cli: Path, tmp: Path) -> None:
    """The user-visible checks both distributions must pass, run from an unrelated folder."""
    cwd = tmp / "elsewhere"
    cwd.mkdir()
    env = outside_env(tmp)

    version = run([str(cli), "--version"], cwd, env).stdout.strip()
    assert version == f"automata {automata_desktop.__version__}"

    doctor = run([str(cli), "doctor", "--offline"], cwd, env).stdout
    listed = re.search(r"^workflows\s+(.*)$", doctor, re.M)
    assert listed and set(listed.group(1).split(", ")) == shipped_workflows(), doctor

    comfy = fake_comfyui(tmp)
    run([str(cli), "comfy", "install-nodes", "--comfyui", str(comfy)], cwd, env)
    pack = comfy / "custom_nodes" / "automata_nodes"
    shipped = {p.name for p in (ROOT / "comfy_nodes").glob("*.py")}
    assert shipped and shipped <= {p.name for p in pack.glob("*.py")}

    shot = cwd / "first-frame.png"
    run(under_xvfb([str(gui), "--screenshot", str(shot)]), cwd, env, timeout=300)
    assert_shows_the_textured_sample(shot)


# -- fast packaging checks ----------------------------------------------------------------------


def test_every_python_package_in_the_source_tree_is_packaged():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    in_tree = {".".join(p.parent.relative_to(ROOT).parts)
               for top in ("automata_desktop", "comfy_nodes")
               for p in (ROOT / top).rglob("__init__.py") if "_tests" not in p.parts}
    missing = sorted(in_tree - listed)
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {missing}"
    assert config["package-dir"]["automata_desktop.resources"] == "resources"
    assert "automata_desktop.resources" in listed


def test_the_cli_and_the_app_report_the_version_from_one_place(capsys):
    from automata_desktop import app, cli

    for main in (cli.main, app.parse_args):
        with pytest.raises(SystemExit) as exit_info:
            main(["--version"])
        assert exit_info.value.code == 0
        assert capsys.readouterr().out.split()[-1] == automata_desktop.__version__
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "automata_desktop.__version__"}


# -- the wheel in a fresh virtual environment ---------------------------------------------------


@pytest.fixture(scope="module")
def fresh_install(tmp_path_factory) -> Path:
    """Build the wheel and install it with its dependencies into a new venv (not the dev venv).
    Dependencies come from pip's cache when warm, else from the index: ~45 s cold here."""
    tmp = tmp_path_factory.mktemp("wheel")
    started = time.monotonic()
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(ROOT)],
        tmp, dict(os.environ), timeout=600)
    wheel = next((tmp / "dist").glob("automata_desktop-*.whl"))
    venv = tmp / "venv"
    run([sys.executable, "-m", "venv", str(venv)], tmp, dict(os.environ), timeout=300)
    pip_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    run([str(venv / BIN / "python"), "-m", "pip", "install", "-q", str(wheel)], tmp, pip_env,
        timeout=1200)
    print(f"wheel built and installed in a fresh venv in {time.monotonic() - started:.0f} s")
    return venv


@pytest.mark.slow
def test_the_wheel_carries_its_resources_and_runs_from_a_fresh_venv(fresh_install, tmp_path):
    python = fresh_install / BIN / "python"
    where = run([str(python), "-c", "import automata_desktop, automata_desktop.paths as p; "
                 "print(automata_desktop.__file__); print(p.resources_dir())"],
                tmp_path, outside_env(tmp_path)).stdout.split("\n")
    module, resources = Path(where[0]), Path(where[1])
    assert module.is_relative_to(fresh_install), f"imported from {module}, not the fresh venv"
    assert resources.is_relative_to(fresh_install)
    assert (resources / "samples" / "sample.glb").is_file()
    assert {p.stem for p in (resources / "icons").glob("*.png")} == {
        p.stem for p in (ROOT / "resources" / "icons").glob("*.png")}

    check_installation(fresh_install / BIN / GUI_EXECUTABLE, fresh_install / BIN / CLI_EXECUTABLE,
                       tmp_path)


# -- the one-folder app -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frozen_app(tmp_path_factory) -> Path:
    """installer/build-app.sh into a temp folder: ~1.5-2 min on 2 cores."""
    try:
        import PyInstaller  # noqa: F401
    except ImportError:
        pytest.skip("PyInstaller is not installed: pip install -e '.[freeze]'")
    tmp = tmp_path_factory.mktemp("frozen")
    env = dict(os.environ, PYTHON=sys.executable, DIST=str(tmp / "dist"), WORK=str(tmp / "work"))
    started = time.monotonic()
    run(["bash", str(ROOT / "installer" / "build-app.sh")], ROOT, env, timeout=1800)
    print(f"one-folder app built in {time.monotonic() - started:.0f} s")
    return tmp / "dist" / GUI_EXECUTABLE


@pytest.mark.slow
def test_the_one_folder_app_runs_without_python_and_stays_within_its_size_budget(frozen_app, tmp_path):
    size_mb = sum(p.stat().st_size for p in frozen_app.rglob("*")
                  if p.is_file() and not p.is_symlink()) / 1e6
    assert size_mb < FROZEN_SIZE_BUDGET_MB, f"the app folder grew to {size_mb:.0f} MB"
    bundled = frozen_app / "_internal"
    assert (bundled / "automata_desktop" / "resources" / "samples" / "sample.glb").is_file()
    assert not any(bundled.glob("PySide6/Qt/lib/libQt6WebEngine*")), "QtWebEngine was bundled"

    check_installation(frozen_app / GUI_EXECUTABLE, frozen_app / CLI_EXECUTABLE, tmp_path)
