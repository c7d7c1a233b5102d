"""The Khronos glTF validator for tests: `validate(path)` returns its report for one file.

It runs tests/gltf_validate.mjs with the machine's Node.js against the pinned npm `gltf-validator`
that installer/setup-dev.sh puts in .tools/node_modules. Missing Node or validator: locally the
test is skipped with the reason; in CI (CI set, as .ci/run does) it fails, so a CI image that lost
Node cannot turn "0 errors, 0 warnings" into a silent skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNNER = Path(__file__).with_name("gltf_validate.mjs")
#: Kept equal to GLTF_VALIDATOR_VERSION in installer/setup-dev.sh (a test checks).
PINNED_VERSION = "2.0.0-dev.3.10"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> None:
    """Skip locally, fail in CI (see the module docstring)."""
    if _in_ci():
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason)


def validator_version() -> str:
    node = shutil.which("node")
    if node is None:
        unavailable("Node.js is not installed: the glTF validator needs it (apt install nodejs npm, "
                    "then bash installer/setup-dev.sh)")
    done = subprocess.run([node, str(RUNNER), "--version"], capture_output=True, text=True,
                          timeout=120, check=False)
    if done.returncode != 0:
        unavailable(done.stderr.strip() or "the glTF validator did not start")
    return done.stdout.strip()


def validate(path: Path) -> dict[str, Any]:
    """The validator's report for `path`: numErrors, numWarnings, numInfos, messages."""
    validator_version()
    done = subprocess.run(["node", str(RUNNER), str(path)], capture_output=True, text=True,
                          timeout=300, check=False)
    if done.returncode != 0:
        raise AssertionError(f"the glTF validator failed on {path}: {done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def problems(report: dict[str, Any]) -> list[str]:
    """Errors and warnings (severity 0 and 1) as readable lines, for assertion messages."""
    return [f"{m['code']} at {m.get('pointer', '?')}: {m['message']}"
            for m in report["messages"] if m["severity"] <= 1]


def assert_valid(path: Path) -> dict[str, Any]:
    """0 errors and 0 warnings, or an assertion that lists them."""
    report = validate(path)
    assert (report["numErrors"], report["numWarnings"]) == (0, 0), "\n".join(problems(report))
    return report
