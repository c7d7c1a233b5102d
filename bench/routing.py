"""Several servers against one: throughput of a batch through the engine's pool, and how close a
pool with one slow server comes to the ideal makespan (work stealing keeps the fast ones busy).

Three test ComfyUI servers (tests/fakecomfy, each its own process) run a sampler-like workflow
(`ProbeSlowProgress`: STEPS sleeps of DELAY s). Measured in the same run:
  - baseline: the JOBS generations queued on one server;
  - pool: the same JOBS over three servers (ratio = baseline / pool, goal >= 2.7x);
  - skewed: one server three times slower (`time_scale` 3); ideal makespan = JOBS x t / (1 + 1
    + 1/3), with t the per-job time of the baseline; goal within 15 % of it.

    .venv/bin/python bench/routing.py [--jobs 30] [--steps 4] [--delay 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from automata_desktop.core.generation import GenerationStatus
from tests.engine_helpers import request, running_engine, slow_graph, template
from tests.fakecomfy.harness import FakeComfy


async def batch(work: Path, servers: list[FakeComfy], jobs: int, steps: int, delay: float,
                *, pool: bool) -> float:
    """Seconds from submit until every generation is stored."""
    flow = template(slow_graph(steps=steps, delay_s=delay), name="bench_slow")
    urls = tuple(s.url for s in servers)
    async with running_engine(work, poll_interval_s=60) as engine:
        started = time.perf_counter()
        gens = await engine.submit(request(flow, urls[0], servers=urls if pool else (),
                                           count=jobs))
        done = await engine.wait([g.id for g in gens], timeout=600)
        elapsed = time.perf_counter() - started
    assert all(g.status is GenerationStatus.COMPLETED for g in done), "a generation failed"
    assert len(done) == jobs and all(len(g.files) == 1 for g in done)
    return elapsed


async def main_async(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-routing-"))
    servers = [FakeComfy(root / f"comfy{i}") for i in range(3)]
    for server in servers:
        server.start()
    try:
        one = await batch(root / "lib1", servers[:1], args.jobs, args.steps, args.delay,
                          pool=False)
        three = await batch(root / "lib3", servers, args.jobs, args.steps, args.delay, pool=True)
        servers[2].control("config", {"time_scale": 3.0})
        skewed = await batch(root / "libs", servers, args.jobs, args.steps, args.delay,
                             pool=True)
    finally:
        for server in servers:
            server.stop()
    per_job = one / args.jobs
    ideal = args.jobs * per_job / (1 + 1 + 1 / 3)
    print(f"{args.jobs} generations, {args.steps} x {args.delay:.2f} s sampler each "
          f"({per_job:.2f} s per job on one server, overhead included)")
    print(f"  baseline, 1 server        {one:7.1f} s")
    print(f"  pool, 3 servers           {three:7.1f} s   throughput x{one / three:.2f} "
          "(goal >= 2.7)")
    print(f"  pool, one 3x slower       {skewed:7.1f} s   ideal {ideal:.1f} s, "
          f"{(skewed / ideal - 1) * 100:+.0f} % (goal <= +15 %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--delay", type=float, default=0.1)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
