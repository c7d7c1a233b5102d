"""Start, kill and restart the fake ComfyUI as a separate process, from tests.

comfy = FakeComfy(tmp_path)
comfy.start()                  # blocks until "FAKECOMFY LISTENING ..." is printed
comfy.control("config", {"node_delay_s": 0.05})
comfy.kill()                   # SIGKILL: sockets end with 1006, state is gone
comfy.restart()                # down ~6 s like the real one, then same port, fresh queue/history
await asyncio.to_thread(comfy.restart, down_s=1.0)   # the same without blocking the test's loop
comfy.hold("3"); await comfy.until(lambda s: "3" in s["waiting"]); comfy.release("3")
comfy.stop()
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_PREFIX = "FAKECOMFY LISTENING "
#: A real ComfyUI 0.3.64 took 5.7-6.5 s from its start to listening (recorded restarts, §7);
#: connections are refused all that time, and a client must not give up meanwhile.
RESTART_DOWN_S = 6.0


class FakeComfyError(RuntimeError):
    """The fake server did not start or did not answer a control call."""


class FakeComfy:
    def __init__(
        self,
        root: Path,
        *,
        version: str = "0.3.64",
        port: int | None = None,
        custom_nodes: list[Path] | None = None,
        default_nodes: bool = True,
        startup_timeout: float = 20.0,
        restart_down_s: float = RESTART_DOWN_S,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        env: dict[str, str] | None = None,
    ) -> None:
        self.root = Path(root)
        self.version = version
        self.port = port or 0
        self.custom_nodes = list(custom_nodes or [])
        self.default_nodes = default_nodes
        self.startup_timeout = startup_timeout
        self.restart_down_s = restart_down_s
        self.api_key = api_key  # Comfy Cloud mode: X-API-Key / ?token= required, /view redirects
        #: Extra environment of the ComfyUI process, e.g. AUTOMATA_WEBHOOK_SECRET for its nodes.
        self.env = dict(env or {})
        self.host = host  # "0.0.0.0" to be reached as a remote machine; `url` stays loopback
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.root / "fakecomfy.log"
        self._port_holder: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def temp_dir(self) -> Path:
        return self.root / "temp"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "tests.fakecomfy",
            "--port",
            str(self.port),
            "--root",
            str(self.root),
            "--version",
            self.version,
            "--host",
            self.host,
        ]
        if self.custom_nodes:
            cmd += ["--custom-nodes", *map(str, self.custom_nodes)]
        if not self.default_nodes:
            cmd.append("--no-default-nodes")
        if self.api_key:
            cmd += ["--api-key", self.api_key]
        return cmd

    def start(self) -> None:
        if self.running:
            raise FakeComfyError("fake ComfyUI is already running")
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.port:
            self.port = self._hold_port()
        log = self.log_path.open("ab")
        offset = log.tell()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.process = subprocess.Popen(
            self.command(), cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env
        )
        log.close()
        self.port = self._wait_ready(offset)

    def _wait_ready(self, offset: int) -> int:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_bytes()[offset:].decode("utf-8", "replace")
            for line in text.splitlines():
                if line.startswith(READY_PREFIX):
                    return int(line.rsplit(":", 1)[1])
            assert self.process is not None
            if self.process.poll() is not None:
                raise FakeComfyError(f"fake ComfyUI exited early:\n{text[-3000:]}")
            time.sleep(0.02)
        self.kill()
        raise FakeComfyError(f"fake ComfyUI did not start within {self.startup_timeout} s")

    def kill(self) -> None:
        """SIGKILL, like a crash or a pulled plug: no close frames, nothing saved."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None

    def stop(self) -> None:
        self.kill()
        if self._port_holder is not None:
            self._port_holder.close()
            self._port_holder = None

    def _hold_port(self) -> int:
        """A port kept ours across kill/restart: a bound, never listening SO_REUSEADDR socket
        refuses connections while the server is down and keeps other programs off the port, and
        the server (which sets SO_REUSEADDR too) can still listen on it."""
        holder = socket.socket()
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 0))
        self._port_holder = holder
        return holder.getsockname()[1]

    def restart(self, down_s: float | None = None) -> None:
        """Kill, stay down (connections refused) for `down_s`, then start on the same port.

        Blocks the calling thread; from an async test run it with ``asyncio.to_thread`` so the
        client under test keeps retrying meanwhile.
        """
        self.kill()
        time.sleep(self.restart_down_s if down_s is None else down_s)
        self.start()

    def control(self, path: str, json: dict[str, Any] | None = None) -> dict[str, Any]:
        """GET ``/_fake/<path>`` (or POST when ``json`` is given) and return the JSON answer."""
        url = f"{self.url}/_fake/{path.lstrip('/')}"
        with httpx.Client(timeout=10) as client:
            response = client.get(url) if json is None else client.post(url, json=json)
        if response.status_code != 200:
            raise FakeComfyError(f"{url} -> {response.status_code} {response.text}")
        return response.json()

    def hold(self, *names: str) -> None:
        """Close gates (a node id, ``history``, ``prompt_reply``: see holds.py)."""
        self.control("hold", {"names": list(names)})

    def release(self, *names: str) -> None:
        self.control("release", {"names": list(names)})

    def requests(self) -> dict[str, Any]:
        """What clients sent: ``requests``, ``prompts`` (POST /prompt bodies), ``storage``."""
        return self.control("requests")

    async def until(self, predicate: Callable[[dict[str, Any]], bool],
                    timeout: float = 15.0) -> dict[str, Any]:
        """Poll ``/_fake/state`` until `predicate` holds, without blocking the event loop."""
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            async def poll() -> dict[str, Any]:
                while True:
                    state = (await client.get("/_fake/state")).json()
                    if predicate(state):
                        return state
                    await asyncio.sleep(0.02)

            return await asyncio.wait_for(poll(), timeout)

    def log_text(self) -> str:
        return self.log_path.read_text("utf-8", "replace") if self.log_path.exists() else ""

    def __enter__(self) -> FakeComfy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
