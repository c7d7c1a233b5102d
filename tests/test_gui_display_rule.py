"""Without an X display the GUI tests skip on a developer's machine but fail in CI.

Run as a child pytest with no DISPLAY and no Xvfb on PATH: what a CI image that lost Xvfb sees.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ONE_GUI_TEST = "tests/gui/test_main_window.py::test_the_about_box_shows_the_version_from_the_package"


def run_gui_test_without_a_display(ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "CI", "WAYLAND_DISPLAY")}
    env["PATH"] = str(Path(sys.executable).parent)  # no Xvfb here: pytest-xvfb starts nothing
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", ONE_GUI_TEST, "-rs", "-p", "no:cacheprovider"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=240,
    )


@pytest.mark.parametrize("ci", [None, "false"])
def test_outside_ci_a_missing_display_skips_the_gui_tests_and_says_why(ci):
    result = run_gui_test_without_a_display(ci)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert "needs an X display" in result.stdout


@pytest.mark.parametrize("ci", ["true", "1"])
def test_in_ci_a_missing_display_fails_the_gui_tests_and_names_the_fix(ci):
    result = run_gui_test_without_a_display(ci)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 error" in result.stdout and "skipped" not in result.stdout
    assert "no X display" in result.stdout and "apt install xvfb" in result.stdout
