"""`automata-desktop --screenshot FILE`: one rendered frame to a PNG, then exit (CI and docs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.gui
REPO = Path(__file__).resolve().parents[2]


def run_app(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "automata_desktop", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_screenshot_of_the_sample_is_written_and_not_blank(tmp_path):
    shot = tmp_path / "window.png"
    result = run_app("--screenshot", str(shot), "--size", "900x600")
    assert result.returncode == 0, result.stderr
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape[:2] == (600, 900)
    assert pixels.std() > 20
    teal = (pixels[..., 1] > pixels[..., 0] + 25) & (pixels[..., 2] > pixels[..., 0] + 25)
    assert teal.mean() > 0.01  # the sample's tiles, not just the dark chrome (grey: 0)


def test_a_broken_mesh_on_the_command_line_fails_with_a_message_not_a_traceback(tmp_path):
    bad = tmp_path / "broken.obj"
    bad.write_text("nothing here\n")
    result = run_app(str(bad), "--screenshot", str(tmp_path / "x.png"), "--size", "640x400")
    assert result.returncode == 1
    assert "broken.obj" in result.stderr and "no triangles" in result.stderr
    assert "Traceback" not in result.stderr
