"""Quitting the app while a background call still runs ends quietly: the call is cancelled,
and no asyncio error about its async generators or its task reaches the log."""

from __future__ import annotations

import gc
import logging
import threading

from automata_desktop.config import LOCAL_SERVER, Settings, generate_webhook_secret
from automata_desktop.controller.bridge import RuntimeBridge

_SIGNS = ("aclose()", "Task was destroyed", "Event loop is closed",
          "Task exception was never retrieved")


def test_quitting_during_a_call_cancels_it_without_asyncio_errors(qapp, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    settings = Settings(default_server=LOCAL_SERVER, webhook_port=0,
                        library_dir=str(tmp_path / "lib"),
                        webhook_secret=generate_webhook_secret())
    bridge = RuntimeBridge(settings, listen=False)
    bridge.start()
    assert bridge.wait_ready()
    inside = threading.Event()
    errors: list[BaseException] = []

    async def watch(rt):  # a long-lived subscription, as a status view keeps one
        async for _update in rt.engine.updates():
            pass

    async def entered(rt):
        inside.set()
        await watch(rt)

    future = bridge.call(entered, on_error=errors.append)
    assert future is not None
    assert inside.wait(10)
    bridge.stop()
    gc.collect()
    qapp.processEvents()
    assert future.cancelled() and errors == []
    noise = [r.getMessage() for r in caplog.records
             if any(sign in r.getMessage() for sign in _SIGNS)
             or (r.name == "asyncio" and r.levelno >= logging.WARNING)]
    assert noise == []
