"""Time the full PBR derivation (all maps) at 1024², 2048², 4096² against a straightforward
scipy.ndimage baseline of the same math, each in a fresh process so peak RSS is its own.

    .venv/bin/python bench/pbr_maps.py [--sizes 1024 2048 4096] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def sample_image(size: int) -> np.ndarray:
    """A photo-like 8-bit texture: smooth blotches plus grain."""
    rng = np.random.default_rng(size)
    small = rng.random((size // 32 + 1, size // 32 + 1, 3)).astype(np.float32)
    coarse = np.kron(small, np.ones((32, 32, 1), dtype=np.float32))[:size, :size]
    grain = rng.random((size, size, 1), dtype=np.float32) * 0.3
    return ((coarse * 0.7 + grain) * 255).clip(0, 255).astype(np.uint8)


def ours(img: np.ndarray) -> None:
    from comfy_nodes.pbr_math import PBRSettings, derive_pbr

    derive_pbr(img, PBRSettings())


def baseline(img: np.ndarray) -> None:
    """The same derivation written the obvious way with scipy.ndimage filters."""
    from scipy import ndimage

    rgb = img.astype(np.float32) / 255.0
    lum = rgb @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
    wide_sigma = max(lum.shape) / 16.0
    box = round(float(np.sqrt(12 * wide_sigma**2 / 3 + 1)))  # 3 box passes ≈ that gaussian
    wide = lum
    for _ in range(3):
        wide = ndimage.uniform_filter(wide, box, mode="nearest")
    h = ndimage.gaussian_filter(lum - 0.6 * wide, 1.0, mode="nearest")
    lo, hi = np.percentile(h, [1, 99])
    h = np.clip((h - lo) / max(hi - lo, 1e-6), 0, 1)
    k = np.array([-0.5, 0.0, 0.5], dtype=np.float32)
    dx = ndimage.correlate1d(h, k, axis=1, mode="nearest") * 2.0
    dy = ndimage.correlate1d(h, k, axis=0, mode="nearest") * 2.0
    n = np.dstack([-dx, dy, np.ones_like(h)])
    n /= np.linalg.norm(n, axis=2, keepdims=True)
    _normal = n * 0.5 + 0.5
    cavity = sum(np.maximum(ndimage.gaussian_filter(h, s, mode="nearest") - h, 0) for s in (8, 32))
    _ao = np.clip(1 - 1.5 * cavity, 0, 1)
    _rough = np.clip(0.6 - 0.6 * (lum - lum.mean()), 0, 1)
    _metal = np.zeros_like(lum)


def run_one(impl: str, size: int, repeats: int) -> dict:
    img = sample_image(size)
    fn = ours if impl == "ours" else baseline
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(img)
        times.append(time.perf_counter() - t)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"impl": impl, "size": size, "first_s": times[0], "best_s": min(times),
            "median_s": float(np.median(times)), "peak_rss_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048, 4096])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", nargs=2, metavar=("IMPL", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]), args.repeats)))
        return
    print(f"{'size':>6} {'impl':>9} {'first s':>8} {'median s':>9} {'best s':>7} {'peak RSS MB':>12}")
    for size in args.sizes:
        for impl in ("ours", "baseline"):
            done = subprocess.run(
                [sys.executable, __file__, "--one", impl, str(size), "--repeats", str(args.repeats)],
                capture_output=True, text=True, check=True,
            )
            r = json.loads(done.stdout)
            print(f"{size:>6} {impl:>9} {r['first_s']:>8.3f} {r['median_s']:>9.3f} "
                  f"{r['best_s']:>7.3f} {r['peak_rss_mb']:>12.0f}")


if __name__ == "__main__":
    main()
