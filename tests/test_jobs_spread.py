"""A batch over several ComfyUI servers (each its own process): every generation goes to a
server that can run it, the least loaded first; a dead server is skipped; nothing runs twice."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pytest

from automata_desktop.cli import main
from automata_desktop.core.generation import GenerationStatus
from automata_desktop.errors import WorkflowError
from tests.engine_helpers import request, running_engine, save_graph, template
from tests.test_backend_capabilities import loader_pack

DEAD = "http://127.0.0.1:9"


def prompts(comfy) -> int:
    return sum(1 for r in comfy.requests()["requests"]
               if r["method"] == "POST" and r["path"] in ("/prompt", "/api/prompt"))


@pytest.mark.asyncio
async def test_a_batch_is_spread_over_the_servers_and_each_runs_once(fake_comfy_factory, tmp_path):
    a, b = fake_comfy_factory(), fake_comfy_factory()
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        gens = await engine.submit(request(template(save_graph()), a.url, servers=(a.url, b.url),
                                           count=4))
        done = await engine.wait([g.id for g in gens], timeout=30)
    assert [g.status for g in done] == [GenerationStatus.COMPLETED] * 4
    assert Counter(g.server for g in done) == {a.url: 2, b.url: 2}
    assert (prompts(a), prompts(b)) == (2, 2)
    assert all(len(g.files) == 1 for g in done)


@pytest.mark.asyncio
async def test_a_generation_goes_only_where_its_model_file_is(fake_comfy_factory, tmp_path):
    without = fake_comfy_factory(custom_nodes=[loader_pack(tmp_path / "p1", "flux-q4.gguf")])
    holder = fake_comfy_factory(custom_nodes=[loader_pack(tmp_path / "p2", "flux-q8.gguf")])
    graph = {**save_graph(), "5": {"class_type": "TestUnetLoader",
                                   "inputs": {"unet_name": "flux-q8.gguf"}}}
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        gens = await engine.submit(request(template(graph), without.url,
                                           servers=(without.url, holder.url), count=3))
        done = await engine.wait([g.id for g in gens], timeout=30)
    assert {g.server for g in done} == {holder.url}
    assert prompts(without) == 0


@pytest.mark.asyncio
async def test_a_server_that_does_not_answer_is_skipped(fake_comfy_factory, tmp_path):
    live = fake_comfy_factory()
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        gens = await engine.submit(request(template(save_graph()), DEAD, servers=(DEAD, live.url),
                                           count=2))
        done = await engine.wait([g.id for g in gens], timeout=30)
    assert [g.server for g in done] == [live.url, live.url]
    assert all(g.status is GenerationStatus.COMPLETED for g in done)


@pytest.mark.asyncio
async def test_a_workflow_no_server_can_run_is_refused_naming_what_each_lacks(
        fake_comfy_factory, tmp_path):
    a, b = fake_comfy_factory(), fake_comfy_factory()
    graph = {**save_graph(), "7": {"class_type": "Hy3DPaintNoSuchNode", "inputs": {}}}
    async with running_engine(tmp_path / "lib", poll_interval_s=60) as engine:
        with pytest.raises(WorkflowError, match="lacks node Hy3DPaintNoSuchNode"):
            await engine.submit(request(template(graph), a.url, servers=(a.url, b.url)))
        assert await engine.library.list() == []  # refused before any row
    assert prompts(a) == prompts(b) == 0


def test_the_cli_takes_several_servers(fake_comfy_factory, tmp_path: Path, capsys):
    a, b = fake_comfy_factory(), fake_comfy_factory()
    code = main(["generate", "--workflow", "pbr_from_image", "--server", a.url, "--server",
                 b.url, "--count", "2", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    done = json.loads(out)
    assert sorted(g["server"] for g in done) == sorted([a.url, b.url])
    assert all(g["status"] == "completed" for g in done)


def test_the_cli_finishes_all_six_exactly_once_when_a_server_dies_mid_run(fake_comfy_factory,
                                                                         tmp_path, capsys):
    import threading
    import time

    a, b = fake_comfy_factory(), fake_comfy_factory()
    b.hold("2")  # b's first generation runs and stays there until b dies
    result: dict[str, int] = {}
    cli = threading.Thread(target=lambda: result.update(code=main(
        ["generate", "--workflow", "pbr_from_image", "--server", a.url, "--server", b.url,
         "--count", "6", "--json"])))
    cli.start()
    deadline = time.monotonic() + 30
    while prompts(b) < 2 and time.monotonic() < deadline:  # one running, one waiting on b
        time.sleep(0.05)
    b.kill()
    cli.join(180)
    out, err = capsys.readouterr()
    assert result.get("code") == 0, err
    done = json.loads(out)
    assert len(done) == 6 and all(g["status"] == "completed" for g in done)
    assert {g["server"] for g in done} == {a.url}
    assert prompts(a) == 6  # b's two were moved to a, each run once


def test_the_cli_pins_a_workflow_to_one_server_of_all(fake_comfy_factory, tmp_path, capsys):
    from automata_desktop.config import ServerConfig, Settings, save_settings, settings_path

    a, b = fake_comfy_factory(), fake_comfy_factory()
    save_settings(Settings(servers=(ServerConfig(a.url, "gpu-a"), ServerConfig(b.url, "gpu-b"))),
                  settings_path())
    assert main(["workflows", "pin", "pbr_from_image", "gpu-b"]) == 0
    assert "runs on " + b.url in capsys.readouterr().out
    code = main(["generate", "--workflow", "pbr_from_image", "--server", "all", "--count", "3",
                 "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [g["server"] for g in json.loads(out)] == [b.url] * 3
    assert prompts(a) == 0
    assert main(["workflows", "pin", "pbr_from_image"]) == 0  # unpinned: both again
    capsys.readouterr()
    assert main(["generate", "--workflow", "pbr_from_image", "--server", "all", "--count", "2",
                 "--json"]) == 0
    assert {g["server"] for g in json.loads(capsys.readouterr().out)} == {a.url, b.url}
    assert main(["workflows", "pin", "pbr_from_image", "http://10.9.9.9:8188"]) == 2
    assert "not a configured server" in capsys.readouterr().err


@pytest.mark.asyncio
async def test_three_servers_capability_speed_and_a_sigkill_each_generation_once(
        fake_comfy_factory, tmp_path):
    """Three servers in their own processes, as a small farm: one lacks the model, one is three
    times slower, one is fast. A batch goes only where the model is, more of it to the fast one;
    the slow one is killed mid-run and its work finishes on the fast one; every generation runs
    to completion once and is stored once."""
    from tests.engine_helpers import slow_graph

    fast = fake_comfy_factory(custom_nodes=[loader_pack(tmp_path / "p1", "sdxl.safetensors")])
    slow = fake_comfy_factory(custom_nodes=[loader_pack(tmp_path / "p2", "sdxl.safetensors")])
    other = fake_comfy_factory(custom_nodes=[loader_pack(tmp_path / "p3", "flux.gguf")])
    slow.control("config", {"time_scale": 3})
    graph = {**slow_graph(steps=4, delay_s=0.1), "5": {
        "class_type": "TestUnetLoader", "inputs": {"unet_name": "sdxl.safetensors"}}}
    servers = (other.url, slow.url, fast.url)
    async with running_engine(tmp_path / "lib", poll_interval_s=60, failover_grace_s=0.3,
                              running_grace_s=0.6) as engine:
        first = await engine.submit(request(template(graph), fast.url, servers=servers, count=4))
        await engine.wait([g.id for g in first], timeout=60)  # both timed now
        gens = await engine.submit(request(template(graph), fast.url, servers=servers, count=8))
        deadline = asyncio.get_running_loop().time() + 30
        while prompts(slow) < 3 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.05)
        slow.kill()
        done = await engine.wait([g.id for g in gens], timeout=90)
        rows = await engine.library.list()
    assert [g.status for g in done] == [GenerationStatus.COMPLETED] * 8
    assert prompts(other) == 0  # it lacks the model: never asked
    placed = Counter(g.server for g in done)
    assert set(placed) == {fast.url} or placed[fast.url] > placed[slow.url]
    assert len(rows) == 12 and all(len(g.files) == 1 for g in rows)  # each stored once
    assert len({f.path for g in rows for f in g.files}) == 12
