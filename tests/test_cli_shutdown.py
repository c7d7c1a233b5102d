"""`automata generate` against the test ComfyUI ends cleanly: no asyncio or httpx errors in the
log or on stderr when the CLI exits (streams still open used to log `aclose(): asynchronous
generator is already running`)."""

from __future__ import annotations

import gc
import json
import logging
import warnings

import pytest

from automata_desktop.cli import main
from automata_desktop.paths import resources_dir

SAMPLE = resources_dir() / "samples" / "sample_basecolor.png"
_NOISY = ("asyncio", "httpx", "httpcore", "websockets", "aiohttp")
_SIGNS = ("aclose()", "Task was destroyed", "Task exception was never retrieved", "Traceback",
          "Event loop is closed", "Unclosed", "unclosed")


def _bad(records: list[logging.LogRecord]) -> list[str]:
    lines = []
    for record in records:
        text = record.getMessage()
        if record.exc_info or any(s in text for s in _SIGNS) or (
                record.levelno >= logging.WARNING and record.name.startswith(_NOISY)):
            lines.append(f"{record.name}: {text}")
    return lines


@pytest.mark.parametrize("server", ["comfy", "local"])
def test_generate_exits_without_asyncio_or_httpx_errors(server, fake_comfy, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    url = fake_comfy.url if server == "comfy" else "local"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(["generate", "-w", "pbr_from_image", "--server", url, "--image", str(SAMPLE),
                     "--json"])
        gc.collect()  # what is left open is finalized now, while we are still listening
    out, err = capsys.readouterr()
    assert code == 0, err
    [gen] = json.loads(out)
    assert gen["status"] == "completed" and gen["files"]
    assert _bad(caplog.records) == []
    assert not [line for line in err.splitlines() if any(s in line for s in _SIGNS)], err
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
