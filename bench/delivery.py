"""How fast finished maps reach the viewer: websocket and webhook against the seed design's poll.

For a 4-map PBR set (base color, normal, roughness, AO as PNG, saved by the real AUTOMATA Webhook
node in the project's test ComfyUI, tests/fakecomfy) at each size, measures the time from
  - the server's `executed` message arriving (websocket path, webhook off), and
  - the webhook POST arriving at the listener (webhook path, websocket off),
until every map is stored in the library AND decoded into numpy arrays, the way the app's window
gets them: the engine fetches each output through its backend (`open_output`) into
`Library.ingest`, handing each map's bytes to the decoder as soon as they are all here
(`core.decode_ahead`, what the GUI's runtime does), the generation completes, and the window's
set is built from the library (`DecodeAhead.filled` as the controller's scene update, then
`TextureSet.loaded()` as the window's worker). Each phase is reported: the first and last map
stored, the completion, the decoded set.

Three configurations run interleaved on the same server and files:
  - before:      outputs through HTTP `/view`, every map decoded by Pillow after the run
                 completed (the app before decoding ahead; the baseline of this run);
  - ahead-view:  outputs through HTTP `/view`, decoded as they land by the app's reader;
  - ahead-local: a ComfyUI on this machine whose output folder is known is read from that folder
                 (`ComfyBackend.output_dir`, checked against the size and SHA-256 the node
                 announced), decoded as they land.
The baseline is the seed design: poll `/history` every INTERVAL seconds (default 15); its expected
latency is INTERVAL/2 plus the same fetch, and it is also measured here from the server's
`execution_success` stamp. Last, decoders side by side on PNGs as the node writes them: the app's
(`core.png` with ISA-L, Pillow for what it leaves), Pillow, OpenCV and pyspng (`pip install -e
.[bench]`; a missing one is skipped), per map in CPU time and per 4-map set in wall time through
a 4-thread pool, as `TextureSet.loaded()` decodes.

    .venv/bin/python bench/delivery.py [--sizes 2048 4096] [--runs 5] [--poll-interval 15]
                                       [--poll-runs 2] [--decode-runs 5] [--sixteen-bit]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from automata_desktop.backends import Backend, open_backend
from automata_desktop.backends.comfyui import ComfyBackend
from automata_desktop.comfy import events as ev
from automata_desktop.comfy.client import ComfyClient
from automata_desktop.config import generate_webhook_secret
from automata_desktop.core import texture_set as ts
from automata_desktop.core.decode_ahead import DecodeAhead
from automata_desktop.core.generation import Generation
from automata_desktop.core.maps import PBR_MAPS, MapKind
from automata_desktop.core.workflow import parse_workflow
from automata_desktop.jobs.engine import JobEngine
from automata_desktop.jobs.models import GenerationRequest
from automata_desktop.library.store import Library
from automata_desktop.webhook import WebhookListener
from comfy_nodes.images import png_bytes
from tests.fakecomfy.harness import FakeComfy

MAPS = ("base_color", "normal", "roughness", "ao")
SECRET = generate_webhook_secret()  # the node signs with it (AUTOMATA_WEBHOOK_SECRET)


@dataclass(frozen=True)
class Config:
    name: str
    local: bool  # read outputs from the server's output folder
    ahead: bool  # decode each map as it lands, by the app's reader (else Pillow, after the run)


CONFIGS = (Config("before", local=False, ahead=False),
           Config("ahead-view", local=False, ahead=True),
           Config("ahead-local", local=True, ahead=True))


@dataclass
class Run:
    """perf_counter stamps of one run, from the path's start signal."""

    t0: float = 0.0
    stored: list[float] = field(default_factory=list)
    completed: float = 0.0
    decoded: float = 0.0
    latency: float = 0.0  # what the path's figure is (poll: from the server's own stamp)

    def phases(self) -> dict[str, float]:
        return {"first stored": self.stored[0] - self.t0, "last stored": self.stored[-1] - self.t0,
                "completed": self.completed - self.t0, "decoded": self.decoded - self.t0}


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


def workflow(names: dict[str, str], size: int, sixteen_bit: bool = False) -> dict:
    graph: dict = {}
    hook_inputs: dict = {"webhook_url": "", "generation_id": "", "delivery": "reference",
                         "filename_prefix": f"bench/s{size}", "sixteen_bit": sixteen_bit}
    for i, kind in enumerate(MAPS, start=1):
        graph[str(i)] = {"class_type": "LoadImage", "inputs": {"image": names[kind]}}
        hook_inputs[kind] = [str(i), 0]
    graph["9"] = {"class_type": "AutomataWebhook", "inputs": hook_inputs}
    return graph


def texture_set_of(gen: Generation) -> ts.TextureSet:
    """The generation's stored maps as the app's scene update builds them (controller's
    `texture_set_of`): by recorded kind, the newest file of a kind winning."""
    maps: dict[MapKind, ts.TextureMap] = {}
    for file in reversed(gen.files):
        if file.kind in PBR_MAPS and file.kind not in maps and file.path.exists():
            maps[file.kind] = ts.TextureMap(file.kind, ts.MapSource(file.source), path=file.path)
    return ts.TextureSet(maps)


def pillow(data: bytes) -> np.ndarray:
    """Pillow's decode as the app used it before `core.png` (`load_image` then)."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return ts.image_pixels(image)


def _pillow_set(textures: ts.TextureSet) -> ts.TextureSet:
    """The decode before: every map through Pillow, in the 4-thread pool `loaded()` uses."""
    def pixels(texture: ts.TextureMap) -> ts.TextureMap:
        assert texture.path is not None
        return ts.TextureMap(texture.kind, texture.source, texture.path,
                             pillow(texture.path.read_bytes()))

    with ThreadPoolExecutor(4) as pool:
        return ts.TextureSet({t.kind: t for t in pool.map(pixels, textures)})


def backends(mode: str, output_dir: Path | None) -> Callable[[str], Backend]:
    def client(url: str) -> ComfyClient:
        made = ComfyClient(url)
        if mode != "websocket":  # the webhook and poll paths: no websocket to hear `executed` on
            made._ws_url = lambda: "ws://127.0.0.1:9/ws"  # type: ignore[method-assign]
        return made

    def make(url: str) -> Backend:
        backend = open_backend(url, client=client)
        if output_dir is not None and isinstance(backend, ComfyBackend):
            backend.output_dir = output_dir
        return backend

    return make


async def one_run(server: FakeComfy, lib_root: Path, graph: dict, mode: str, config: Config,
                  seed: int, poll_interval: float) -> Run:
    run = Run()
    library = Library(lib_root)
    slow = poll_interval if mode == "poll" else 3600
    engine = JobEngine(library, poll_interval_s=slow, fast_poll_s=slow,
                       backend_factory=backends(mode, server.output_dir if config.local else None))
    await engine.start()
    ahead = engine.outputs.ahead = DecodeAhead() if config.ahead else None
    engine.outputs.on_stored.append(lambda _gen, _f: run.stored.append(time.perf_counter()))
    listener = None
    if mode == "webhook":
        async def on_event(event):  # stamped on arrival, then the engine's own handling
            run.t0 = run.t0 or time.perf_counter()
            await engine.handle_webhook(event)

        listener = WebhookListener(secret=SECRET, on_event=on_event)
        await listener.start()
        engine.webhook_url = listener.url
    graph = {k: {**v, "inputs": dict(v["inputs"])} for k, v in graph.items()}
    graph["9"]["inputs"]["filename_prefix"] += f"_{mode}_{config.name}_{seed}"  # no cache hit
    template = parse_workflow(graph, name="bench", manifest={
        "outputs": {"webhook_node": "9"},
        "parameters": {"webhook_url": {"type": "string", "bind": ["9.webhook_url"]},
                       "generation_id": {"type": "string", "bind": ["9.generation_id"]}}})
    session = await engine.session(server.url)
    client: ComfyClient = session.backend.client  # type: ignore[attr-defined]
    events = client.events()

    async def watch_executed() -> None:
        async for event in events:
            if isinstance(event, ev.NodeOutput):
                run.t0 = run.t0 or time.perf_counter()
                return

    watcher = asyncio.create_task(watch_executed()) if mode == "websocket" else None
    [gen] = await engine.submit(GenerationRequest(workflow=template, server=server.url))
    [done] = await engine.wait([gen.id], timeout=600)
    run.completed = time.perf_counter()
    # The window's set, off the loop: what was decoded ahead (the controller), then the rest
    # (the window's worker); before, every map was decoded here, with Pillow.
    if ahead is not None:
        decoded = await asyncio.to_thread(lambda: ahead.filled(texture_set_of(done)).loaded())
        ahead.close()
    else:
        decoded = await asyncio.to_thread(lambda: _pillow_set(texture_set_of(done)))
    run.decoded = time.perf_counter()
    assert done.status.value == "completed" and len(decoded) == len(MAPS), done.error
    assert all(decoded.pixels(k) is not None for k in decoded.kinds)
    if mode == "poll":
        # The server stamps execution_success in wall-clock ms: latency from then to now.
        raw = await client._json("GET", f"/history/{done.prompt_id}")
        stamp = next(m[1]["timestamp"] for m in raw[done.prompt_id]["status"]["messages"]
                     if m[0] == "execution_success")
        run.latency = time.time() - stamp / 1000
        run.t0 = time.perf_counter() - run.latency  # phases from the server's stamp too
    else:
        run.latency = run.decoded - run.t0
    if watcher:
        watcher.cancel()
    if listener:
        await listener.stop()
    await engine.close()
    library.close()
    return run


# -- decoders ---------------------------------------------------------------------------------

def decoders() -> dict[str, Callable[[bytes], np.ndarray]]:
    """Each decoder's bytes -> array as the app would use it (RGB order, file depth)."""
    out: dict[str, Callable[[bytes], np.ndarray]] = {"app": ts.decode_image, "Pillow": pillow}
    try:
        import cv2

        cv2.setNumThreads(1)  # one map per thread, as the app's pool decodes

        def opencv(data: bytes) -> np.ndarray:
            pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
            if pixels.ndim == 3:
                pixels = cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)
            return pixels

        out["OpenCV"] = opencv
    except ImportError:
        pass
    try:
        import pyspng

        out["pyspng"] = pyspng.load
    except ImportError:
        pass
    return out


def sample_png(size: int, channels: int, bits: int) -> bytes:
    """A map as the AUTOMATA node writes it (its PNG encoder, ComfyUI's compression level)."""
    rng = np.random.default_rng(size + channels + bits)
    small = rng.random((size // 64, size // 64, channels))
    big = np.kron(small, np.ones((64, 64, 1))) * 0.75 + rng.random((size, size, channels)) * 0.25
    return png_bytes(big.astype(np.float32), bits=bits, gray=channels == 1)


def decoder_table(sizes: list[int], runs: int) -> None:
    found = decoders()
    print(f"\ndecoding, best of {runs}: CPU ms per map (one thread); '≠' = not the array Pillow "
          "gives the app")
    print(f"{'map':<17} {'MiB':>5} " + "".join(f"{name:>12}" for name in found))
    sets: dict[int, list[bytes]] = {}
    for size in sizes:
        for label, channels, bits in (("RGB 8-bit", 3, 8), ("gray 8-bit", 1, 8),
                                      ("RGB 16-bit", 3, 16), ("gray 16-bit", 1, 16)):
            data = sample_png(size, channels, bits)
            if bits == 8:
                sets.setdefault(size, []).extend([data, data])
            reference = found["Pillow"](data)
            cells = []
            for decode in found.values():
                best = min(_cpu(decode, data) for _ in range(runs))
                cells.append(f"{best * 1000:9.1f}{'  ' if _same(decode(data), reference) else ' ≠'} ")
            print(f"{size}² {label:<12} {len(data) / 2**20:5.1f} " + "".join(cells), flush=True)
    print("(Pillow reads 16-bit RGB as 8-bit RGB; OpenCV keeps 16 bits; pyspng gives 16-bit files"
          " an alpha channel)")
    print(f"wall ms per 4-map set (2 RGB + 2 gray, 8-bit) in a 4-thread pool, best of {runs}:")
    for size, set_of_four in sets.items():
        cells = []
        for decode in found.values():
            with ThreadPoolExecutor(4) as pool:
                best = min(_wall(lambda d=decode, s=set_of_four: list(pool.map(d, s)))
                           for _ in range(runs))
            cells.append(f"{best * 1000:9.1f}   ")
        print(f"{size}² {'set of 4':<12} {'':>5} " + "".join(cells), flush=True)


def _cpu(decode: Callable[[bytes], np.ndarray], data: bytes) -> float:
    start = time.thread_time()
    decode(data)
    return time.thread_time() - start


def _wall(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b))


# -- report -----------------------------------------------------------------------------------

def row(size: int, label: str, runs: list[Run]) -> str:
    lat = [r.latency for r in runs]
    phases = [r.phases() for r in runs]
    parts = " ".join(f"{statistics.median(p[k] for p in phases):6.3f}" for k in phases[0])
    return (f"{size:>5}² {label:<36} {statistics.median(lat):8.3f} {min(lat):7.3f} "
            f"{max(lat):7.3f} {len(runs):>4}   {parts}")


async def main_async(args: argparse.Namespace) -> None:
    results: dict[tuple[int, str, str], list[Run]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = FakeComfy(root / "comfy", env={"AUTOMATA_WEBHOOK_SECRET": SECRET})
        server.start()
        try:
            print(f"{'size':>6} {'path':<36} {'median s':>8} {'min s':>7} {'max s':>7} {'runs':>4}"
                  "   phases, median s: first stored, last stored, completed, decoded")
            for size in args.sizes:
                server.input_dir.mkdir(parents=True, exist_ok=True)
                graph = workflow(make_inputs(server.input_dir, size), size, args.sixteen_bit)
                plan = [(mode, CONFIGS, args.runs) for mode in ("websocket", "webhook")]
                plan.append(("poll", CONFIGS[:1], args.poll_runs))
                for mode, configs, runs in plan:
                    # Interleaved, so a busy moment of the (shared) machine hits both configs.
                    for i in range(runs):
                        for config in configs:
                            lib = root / f"lib-{size}-{mode}-{config.name}-{i}"
                            results.setdefault((size, mode, config.name), []).append(
                                await one_run(server, lib, graph, mode, config, i,
                                              args.poll_interval))
                    label = {"websocket": "executed (websocket)", "webhook": "webhook POST",
                             "poll": f"poll every {args.poll_interval:g}s"}[mode]
                    for config in configs if runs > 0 else ():
                        name = f"{label}, {config.name}" if mode != "poll" else label
                        print(row(size, name, results[(size, mode, config.name)]), flush=True)
                ws = statistics.median(r.latency for r in results[(size, "websocket", "before")])
                print(f"{size:>5}² {'poll expected (i/2+fetch)':<36} {args.poll_interval / 2 + ws:8.3f}")
        finally:
            server.stop()
    print(f"peak RSS of the app side: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
          f"; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    for size in args.sizes:
        expected = args.poll_interval / 2 + statistics.median(
            r.latency for r in results[(size, "websocket", "before")])
        cells = []
        for mode in ("websocket", "webhook"):
            for config in CONFIGS:
                median = statistics.median(r.latency for r in results[(size, mode, config.name)])
                cells.append(f"{mode} {config.name} {median * 1000:.0f} ms = {expected / median:.0f}x")
        print(f"{size}² vs the expected poll latency ({expected:.2f} s): " + "; ".join(cells))
    decoder_table(args.sizes, args.decode_runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2048, 4096])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--poll-interval", type=float, default=15.0)
    parser.add_argument("--poll-runs", type=int, default=2)
    parser.add_argument("--decode-runs", type=int, default=5)
    parser.add_argument("--sixteen-bit", action="store_true",
                        help="the node's default: the normal map at 16 bits (the issue's figures "
                             "are for 8-bit maps)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
