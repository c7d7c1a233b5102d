"""How fast finished maps reach the library: websocket and webhook against the seed design's poll.

For a 4-map PBR set (base color, normal, roughness, AO as PNG) at each size, measures the time from
  - the server's `executed` message arriving (websocket path, webhook off), and
  - the webhook POST arriving at the listener (webhook path, websocket off),
until every map is stored in the library AND decoded into numpy arrays. The baseline is the seed
design: poll `/history` every INTERVAL seconds (default 15); its expected latency is INTERVAL/2 plus
the same fetch, and it is also measured in this run from the server's `execution_success` stamp.
The ComfyUI is the project's test server (tests/fakecomfy) running the real AUTOMATA Webhook node.

    .venv/bin/python bench/delivery.py [--sizes 2048 4096] [--runs 5] [--poll-interval 15] [--poll-runs 2]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from automata_desktop.comfy import events as ev
from automata_desktop.comfy.client import ComfyClient
from automata_desktop.config import generate_webhook_secret
from automata_desktop.core.workflow import parse_workflow
from automata_desktop.jobs.engine import JobEngine
from automata_desktop.jobs.models import GenerationRequest
from automata_desktop.library.store import Library
from automata_desktop.webhook import WebhookListener
from tests.fakecomfy.harness import FakeComfy

MAPS = ("base_color", "normal", "roughness", "ao")
DECODE_POOL = ThreadPoolExecutor(4)


def make_inputs(folder: Path, size: int) -> dict[str, str]:
    rng = np.random.default_rng(size)
    names = {}
    for i, kind in enumerate(MAPS):
        small = rng.random((size // 64, size // 64, 3 if kind in ("base_color", "normal") else 1))
        big = np.kron(small, np.ones((64, 64, 1)))
        noise = rng.random(big.shape) * 0.25
        arr = ((big * 0.75 + noise) * 255).astype(np.uint8)
        img = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
        name = f"bench_{size}_{i}_{kind}.png"
        img.save(folder / name, compress_level=1)
        names[kind] = name
    return names


def workflow(names: dict[str, str], size: int) -> dict:
    graph: dict = {}
    hook_inputs: dict = {"webhook_url": "", "generation_id": "", "delivery": "reference",
                         "filename_prefix": f"bench/s{size}", "sixteen_bit": False}
    for i, kind in enumerate(MAPS, start=1):
        graph[str(i)] = {"class_type": "LoadImage", "inputs": {"image": names[kind]}}
        hook_inputs[kind] = [str(i), 0]
    graph["9"] = {"class_type": "AutomataWebhook", "inputs": hook_inputs}
    return graph


def decode(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img)


def blocked_ws(url: str) -> ComfyClient:
    client = ComfyClient(url)
    client._ws_url = lambda: "ws://127.0.0.1:9/ws"  # type: ignore[method-assign]
    return client


async def one_run(server: FakeComfy, lib_root: Path, graph: dict, mode: str, seed: int,
                  poll_interval: float) -> float:
    """Seconds from the path's start signal to every map stored and decoded."""
    secret = generate_webhook_secret()
    library = Library(lib_root)
    factory = ComfyClient if mode == "websocket" else blocked_ws
    engine = JobEngine(library, poll_interval_s=poll_interval if mode == "poll" else 3600,
                       fast_poll_s=poll_interval if mode == "poll" else 3600,
                       webhook_secret=secret, client_factory=factory)
    await engine.start()
    # Like the viewer: decode each map the moment the engine reports it stored.
    decoding: list = []
    engine.on_file_stored.append(lambda _gen, f: decoding.append(DECODE_POOL.submit(decode, f.path)))
    listener = None
    t_signal: dict[str, float] = {}
    if mode == "webhook":
        async def on_event(event):  # timestamp on arrival, then the engine's own handling
            t_signal.setdefault("t0", time.perf_counter())
            await engine.handle_webhook(event)

        listener = WebhookListener(secret=secret, on_event=on_event)
        await listener.start()
        engine.webhook_url = listener.url
    graph = {k: {**v, "inputs": dict(v["inputs"])} for k, v in graph.items()}
    graph["9"]["inputs"]["filename_prefix"] += f"_{mode}_{seed}"  # defeat ComfyUI's cache
    template = parse_workflow(graph, name="bench", manifest={
        "outputs": {"webhook_node": "9"},
        "parameters": {"webhook_url": {"type": "string", "bind": ["9.webhook_url"]},
                       "generation_id": {"type": "string", "bind": ["9.generation_id"]}}})
    session = await engine.session(server.url)
    events = session.client.events()

    async def watch_executed() -> None:
        async for event in events:
            if isinstance(event, ev.NodeOutput):
                t_signal.setdefault("t0", time.perf_counter())
                return

    watcher = asyncio.create_task(watch_executed()) if mode == "websocket" else None
    [gen] = await engine.submit(GenerationRequest(workflow=template, server=server.url))
    [done] = await engine.wait([gen.id], timeout=600)
    arrays = [await asyncio.wrap_future(f) for f in decoding]
    t1 = time.perf_counter()
    assert done.status.value == "completed" and len(arrays) == len(MAPS), done.error
    if mode == "poll":
        # The server stamps execution_success in wall-clock ms: latency from then to now.
        raw = await session.client._json("GET", f"/history/{done.prompt_id}")
        stamp = next(m[1]["timestamp"] for m in raw[done.prompt_id]["status"]["messages"]
                     if m[0] == "execution_success")
        latency = time.time() - stamp / 1000
    else:
        latency = t1 - t_signal["t0"]
    if watcher:
        watcher.cancel()
    if listener:
        await listener.stop()
    await engine.close()
    library.close()
    return latency


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = FakeComfy(root / "comfy")
        server.start()
        try:
            print(f"{'size':>6} {'path':<30} {'median s':>9} {'min s':>7} {'max s':>7}  runs")
            results: dict[tuple[int, str], list[float]] = {}
            for size in args.sizes:
                server.input_dir.mkdir(parents=True, exist_ok=True)
                graph = workflow(make_inputs(server.input_dir, size), size)
                for mode, runs in (("websocket", args.runs), ("webhook", args.runs),
                                   ("poll", args.poll_runs)):
                    times = []
                    for i in range(runs):
                        times.append(await one_run(server, root / f"lib-{size}-{mode}-{i}", graph,
                                                   mode, i, args.poll_interval))
                    results[(size, mode)] = times
                    label = {"websocket": "from executed (websocket)",
                             "webhook": "from webhook POST",
                             "poll": f"poll /history every {args.poll_interval:g}s"}[mode]
                    print(f"{size:>5}² {label:<30} {statistics.median(times):9.3f} "
                          f"{min(times):7.3f} {max(times):7.3f}  {runs}", flush=True)
                fetch = statistics.median(results[(size, "websocket")])
                print(f"{size:>5}² {'poll, expected (interval/2 + fetch)':<30} "
                      f"{args.poll_interval / 2 + fetch:9.3f}")
        finally:
            server.stop()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the app side: {rss:.0f} MiB")
    for size in args.sizes:
        ws = statistics.median(results[(size, "websocket")])
        hook = statistics.median(results[(size, "webhook")])
        expected = args.poll_interval / 2 + ws
        measured = statistics.median(results[(size, "poll")])
        print(f"{size}²: websocket is {expected / ws:.0f}x faster than the expected poll latency "
              f"({measured / ws:.0f}x the measured one); webhook {expected / hook:.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--poll-interval", type=float, default=15.0)
    parser.add_argument("--poll-runs", type=int, default=2)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
