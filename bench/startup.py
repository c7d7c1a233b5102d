"""Start-up time of the frozen one-folder app next to the pip-installed one, in the same run.

For each install it times, from process spawn: the GUI until its first frame is on disk
(`automata-desktop --screenshot`: the window is shown, the sample mesh and its maps are loaded and
rendered, the frame is grabbed) and until the process has exited, and the CLI's
`automata --version` and `automata doctor --offline`. Runs alternate between the installs, so a
busy machine slows both alike; the first run of each is reported apart (cold disk cache after a
build), the rest as a median.

    installer/build-app.sh                       # once: dist/automata-desktop
    .venv/bin/python bench/startup.py [--frozen dist/automata-desktop] [--venv .venv] [--runs 5]

Without a display it re-runs itself under xvfb-run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = "Scripts" if sys.platform == "win32" else "bin"


def timed_gui(gui: Path, workdir: Path, env: dict[str, str]) -> tuple[float, float]:
    """(seconds to the screenshot file appearing, seconds to exit)."""
    shot = workdir / f"frame-{time.monotonic_ns()}.png"
    start = time.monotonic()
    proc = subprocess.Popen([str(gui), "--screenshot", str(shot)], cwd=workdir, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    first_frame = None
    while proc.poll() is None:
        if first_frame is None and shot.exists():
            first_frame = time.monotonic() - start
        time.sleep(0.005)
    total = time.monotonic() - start
    if proc.returncode != 0 or not shot.exists():
        raise SystemExit(f"{gui} failed ({proc.returncode}): {proc.stderr.read()[-2000:]}")
    return first_frame if first_frame is not None else total, total


def timed_cli(cli: Path, args: list[str], workdir: Path, env: dict[str, str]) -> float:
    start = time.monotonic()
    subprocess.run([str(cli), *args], cwd=workdir, env=env, check=True, capture_output=True)
    return time.monotonic() - start


def measure(installs: dict[str, Path], runs: int) -> dict[str, dict[str, list[float]]]:
    results: dict[str, dict[str, list[float]]] = {
        name: {"first frame": [], "gui exit": [], "cli --version": [], "cli doctor": []}
        for name in installs
    }
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env.setdefault("AUTOMATA_CONFIG_DIR", str(workdir / "config"))
        env.setdefault("AUTOMATA_DATA_DIR", str(workdir / "data"))
        for _ in range(runs):
            for name, bindir in installs.items():
                frame, total = timed_gui(bindir / "automata-desktop", workdir, env)
                results[name]["first frame"].append(frame)
                results[name]["gui exit"].append(total)
                cli = bindir / "automata"
                results[name]["cli --version"].append(timed_cli(cli, ["--version"], workdir, env))
                results[name]["cli doctor"].append(
                    timed_cli(cli, ["doctor", "--offline"], workdir, env))
    return results


def report(results: dict[str, dict[str, list[float]]]) -> None:
    names = list(results)
    print(f"{'seconds':<16}" + "".join(f"{n + ' 1st':>14}{n + ' median':>17}" for n in names))
    for metric in next(iter(results.values())):
        row = f"{metric:<16}"
        for name in names:
            values = results[name][metric]
            rest = values[1:] or values
            row += f"{values[0]:>14.2f}{statistics.median(rest):>17.2f}"
        print(row)


def folder_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink()) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frozen", type=Path, default=ROOT / "dist" / "automata-desktop",
                        help="the one-folder app (default dist/automata-desktop)")
    parser.add_argument("--venv", type=Path, default=Path(sys.prefix),
                        help="a venv with automata-desktop pip-installed (default: this one)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the raw timings as JSON")
    args = parser.parse_args()

    if not os.environ.get("DISPLAY") and sys.platform.startswith("linux"):
        if not shutil.which("xvfb-run"):
            parser.error("no DISPLAY and no xvfb-run: install xvfb or run inside a desktop session")
        return subprocess.call(["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24",
                                sys.executable, *sys.argv])

    installs = {}
    if (args.frozen / "automata-desktop").exists():
        installs["frozen"] = args.frozen
        print(f"frozen: {args.frozen} ({folder_mb(args.frozen):.0f} MB)")
    else:
        print(f"no frozen app in {args.frozen}; build it with installer/build-app.sh", file=sys.stderr)
    pip_bin = args.venv / BIN
    if (pip_bin / "automata-desktop").exists():
        installs["pip"] = pip_bin
        print(f"pip:    {pip_bin}")
    else:
        print(f"no automata-desktop script in {pip_bin}", file=sys.stderr)
    if not installs:
        return 2

    results = measure(installs, max(1, args.runs))
    if args.json:
        print(json.dumps(results, indent=2))
    report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
