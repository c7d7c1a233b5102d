"""How fast the library reaches Supabase and comes back: push and pull of N generations x 5 maps.

Runs against the project's local Supabase stand-in (tests/supabase_stack: real PostgreSQL, the
GoTrue/PostgREST/Storage look-alike, in this process, started the way the tests start it). Each
generation has five 2048x2048 PNG maps of realistic size (noisy base colour and normal, greyscale
roughness, metallic and AO: about 20 MB per generation). Measures
  - push: SyncWorker.run_pending() for every generation, at each --concurrency;
  - pull: a second device's Puller + LibraryMirror into a real Library (download, sha256, adopt);
  - raw: the same bytes POSTed straight to the storage endpoint with httpx, same concurrency;
and prints wall time, MB/s and HTTP requests per generation. The target is push >= 70 % of raw.
Maps over 6 MB go up resumably (TUS: a create and one PATCH per 6 MB, as Supabase recommends)
while raw sends one POST each, so push makes more requests per generation than raw.
The five map files are shared by all generations (each still gets its own storage keys).

    .venv/bin/python bench/sync.py [--generations 50] [--size 2048] [--concurrency 1 4]
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from automata_desktop.core.generation import Generation, GenerationStatus, OutputFile
from automata_desktop.core.maps import MapKind
from automata_desktop.library.store import Library
from automata_desktop.sync import Puller, SyncWorker
from automata_desktop.sync.library_mirror import LibraryMirror
from tests.supabase_stack import PgCluster, SupabaseStack, apply_schema
from tests.supabase_stack.devices import PASSWORD, Device, unique_email

MB = 1024 * 1024


def make_maps(folder: Path, size: int) -> list[OutputFile]:
    """Five maps that compress like real ones: broad shapes plus per-pixel grain."""
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True, exist_ok=True)

    def field(channels: int, grain: float) -> np.ndarray:
        low = rng.random((size // 64, size // 64, channels)) * 255
        broad = np.asarray(Image.fromarray(low.astype(np.uint8).squeeze()).resize(
            (size, size), Image.Resampling.BICUBIC), dtype=np.float32)
        if broad.ndim == 2:
            broad = broad[..., None]
        noise = rng.normal(0, grain, (size, size, channels)).astype(np.float32)
        return np.clip(broad + noise, 0, 255).astype(np.uint8).squeeze()

    normal = field(3, 4)
    normal[..., 2] = 255 - normal[..., 2] // 8  # mostly facing out, like a real normal map
    maps = {MapKind.BASE_COLOR: field(3, 10), MapKind.NORMAL: normal,
            MapKind.ROUGHNESS: field(1, 8), MapKind.METALLIC: field(1, 0.4) // 64 * 64,
            MapKind.AO: field(1, 3)}
    files = []
    for kind, pixels in maps.items():
        path = folder / f"{kind.value}.png"
        Image.fromarray(pixels).save(path)
        data = path.read_bytes()
        files.append(OutputFile(kind=kind, path=path, sha256=hashlib.sha256(data).hexdigest(),
                                size=len(data), width=size, height=size))
    return files


@dataclass
class Counted:
    requests: int = 0

    def hook(self, _request: httpx.Request) -> None:
        self.requests += 1


def client(counter: Counted) -> httpx.Client:
    return httpx.Client(timeout=httpx.Timeout(120.0, connect=5.0),
                        event_hooks={"request": [counter.hook]})


def push(device: Device, counter: Counted, files: list[OutputFile], count: int,
         concurrency: int) -> tuple[float, list[str]]:
    now = datetime.now(UTC)
    ids = []
    for i in range(count):
        gen = Generation(id=str(uuid.uuid4()), workflow="pbr_from_image", server="local",
                         status=GenerationStatus.COMPLETED, prompt=f"bench {i}",
                         started_at=now, finished_at=now, files=list(files))
        device.library.add(gen)
        device.outbox.enqueue(gen.id)
        ids.append(gen.id)
    worker = SyncWorker(device.auth, device.outbox, device.library, max_concurrency=concurrency)
    counter.requests = 0
    start = time.perf_counter()
    report = worker.run_pending()
    elapsed = time.perf_counter() - start
    if report.failed or len(report.pushed) != count:
        raise SystemExit(f"push failed: {report.failed or report}")
    return elapsed, ids


def raw_upload(stack: SupabaseStack, device: Device, files: list[OutputFile], count: int,
               concurrency: int) -> float:
    """The same bytes, straight to Storage: one POST per file, no metadata check, no row."""
    session = device.auth.client.auth.get_session()
    user = session.user.id
    headers = {"Authorization": f"Bearer {session.access_token}", "apikey": stack.anon_key,
               "x-upsert": "true", "Content-Type": "image/png"}
    blobs = [(f.kind.value, f.path.read_bytes()) for f in files]
    jobs = [(f"{user}/raw-{uuid.uuid4()}/{name}.png", data) for _ in range(count)
            for name, data in blobs]
    with httpx.Client(timeout=httpx.Timeout(120.0, connect=5.0)) as http:
        def send(job: tuple[str, bytes]) -> None:
            response = http.post(f"{stack.url}/storage/v1/object/textures/{job[0]}",
                                 content=job[1], headers=headers)
            response.raise_for_status()

        start = time.perf_counter()
        if concurrency == 1:
            for job in jobs:
                send(job)
        else:
            with ThreadPoolExecutor(concurrency) as pool:
                list(pool.map(send, jobs))
        return time.perf_counter() - start


def pull(stack: SupabaseStack, email: str, folder: Path) -> tuple[float, int, int]:
    counter = Counted()
    device = Device(stack, folder / "device", http_client=client(counter))
    library = Library(folder / "library")
    try:
        device.auth.sign_in(email, PASSWORD)
        mirror = LibraryMirror(library)
        puller = Puller(device.auth, device.outbox, mirror.upsert_remote)
        mirror.download = puller.download
        counter.requests = 0
        start = time.perf_counter()
        pulled = puller.pull()
        return time.perf_counter() - start, pulled, counter.requests
    finally:
        library.close()
        device.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generations", type=int, default=50)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="automata-bench-sync-"))
    cluster = PgCluster.create()
    try:
        cluster.start()
        apply_schema(cluster)
        stack = SupabaseStack.start(cluster, work / "blobs")
        try:
            run(stack, work, args)
        finally:
            stack.close()
    finally:
        cluster.destroy()
        shutil.rmtree(work, ignore_errors=True)


def run(stack: SupabaseStack, work: Path, args: argparse.Namespace) -> None:
    t0 = time.perf_counter()
    files = make_maps(work / "maps", args.size)
    per_gen = sum(f.size for f in files)
    total = per_gen * args.generations
    sizes = ", ".join(f"{f.kind.value} {f.size / MB:.1f}" for f in files)
    print(f"{args.generations} generations x 5 maps at {args.size}² PNG: "
          f"{per_gen / MB:.1f} MB per generation ({sizes} MB), {total / MB:.0f} MB in all "
          f"(maps made in {time.perf_counter() - t0:.1f} s)")
    email = unique_email("bench")
    counter = Counted()
    device = Device(stack, work / "laptop", http_client=client(counter))
    device.sign_up(email)
    try:
        print(f"{'':>24} {'wall s':>8} {'MB/s':>8} {'req/gen':>8} {'vs raw':>7}")
        for concurrency in args.concurrency:
            raw_s = raw_upload(stack, device, files, args.generations, concurrency)
            push_s, _ = push(device, counter, files, args.generations, concurrency)
            requests = counter.requests / args.generations
            print(f"{f'raw httpx POST, c={concurrency}':>24} {raw_s:8.1f} {total / MB / raw_s:8.1f}"
                  f" {5:8.1f}")
            print(f"{f'push (SyncWorker) c={concurrency}':>24} {push_s:8.1f} "
                  f"{total / MB / push_s:8.1f} {requests:8.1f} {raw_s / push_s:6.0%}")
        pull_s, pulled, requests = pull(stack, email, work / "desktop")
        pulled_bytes = per_gen * pulled
        print(f"{'pull (Puller+Library)':>24} {pull_s:8.1f} {pulled_bytes / MB / pull_s:8.1f} "
              f"{requests / max(1, pulled):8.1f}   ({pulled} generations, all pushes above)")
    finally:
        device.close()


if __name__ == "__main__":
    main()
