"""`python -m build` (sdist, then a wheel built from that sdist) carries every run-time file."""

from __future__ import annotations

import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NEEDED = [
    "resources/samples/sample.glb",
    "resources/samples/sample_basecolor.png",
    "resources/hdri/studio.hdr",
    "resources/icons/automata_256.png",
    "resources/workflows/pbr_from_image.json",
    "resources/workflows/pbr_from_image.manifest.json",
    "resources/supabase/migrations/20261125000000_automata_sync.sql",
]


@pytest.mark.slow
def test_the_sdist_and_the_wheel_built_from_it_carry_resources_and_the_node_pack(tmp_path):
    out = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], check=True,
                   capture_output=True, timeout=600)
    [sdist] = out.glob("*.tar.gz")
    [wheel] = out.glob("*.whl")
    with tarfile.open(sdist) as tar:
        sdist_names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    with zipfile.ZipFile(wheel) as whl:
        wheel_names = set(whl.namelist())
    for path in NEEDED:
        assert path in sdist_names, f"sdist lacks {path}"
        assert f"automata_desktop/{path}" in wheel_names, f"wheel lacks {path}"
    assert "comfy_nodes/__init__.py" in wheel_names and "comfy_nodes/pyproject.toml" in wheel_names
    assert not any(n.startswith(("tests/", "automata_desktop/tests")) for n in wheel_names)
