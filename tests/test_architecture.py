"""The code keeps its shape: the domain knows no Qt or HTTP, widgets speak no HTTP, the node pack
imports nothing of the app (contracts in pyproject.toml's [tool.importlinter])."""

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold():
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or "lint-imports"
    result = subprocess.run([lint, "--config", str(ROOT / "pyproject.toml")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def test_the_middle_is_pinned_by_a_layers_contract_and_comfy_reaches_no_library():
    """The contracts above cannot quietly go away: the engine sits over the backends, the
    ComfyUI client under them, and the client never imports the library or the engine."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"]
    [layers] = [c for c in contracts if c["type"] == "layers"]
    order = [layer.split(" | ") for layer in layers["layers"]]
    level = {name: i for i, names in enumerate(order) for name in names}
    assert level["jobs"] < level["backends"] < level["comfy"] < level["core"]
    assert level["library"] > level["jobs"] and "allow_indirect_imports" not in layers
    [comfy] = [c for c in contracts if c.get("source_modules") == ["automata_desktop.comfy"]]
    assert {"automata_desktop.library", "automata_desktop.jobs"} <= set(comfy["forbidden_modules"])
    assert not comfy.get("allow_indirect_imports", False)


def test_widgets_are_pinned_above_the_controller_without_indirect_exceptions():
    """ui → controller → … → core, and no run-time import of a widget reaches the engine, the
    library's database, sync, a backend, ComfyUI or HTTP, directly or through anything else."""
    import tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"]
    [layers] = [c for c in contracts if c["type"] == "layers"]
    order = [layer.split(" | ") for layer in layers["layers"]]
    level = {name: i for i, names in enumerate(order) for name in names}
    assert level["ui"] < level["controller"] < level["runtime"] < level["jobs"]
    [ui] = [c for c in contracts if c.get("source_modules") == ["automata_desktop.ui"]]
    assert {"automata_desktop.comfy", "automata_desktop.controller", "automata_desktop.runtime",
            "automata_desktop.library.store", "automata_desktop.sync.runner",
            "httpx"} <= set(ui["forbidden_modules"])
    forbidden = [c for c in contracts if c["type"] == "forbidden"]
    assert not any(c.get("allow_indirect_imports") for c in forbidden)
