"""The controller is the one way widgets change things, so everyone who holds a piece of a
generation hears of it: deleting the one on the mesh takes its maps off the scene, deleting one
still running stops it on the server first, and a refusal leaves nothing behind."""

from __future__ import annotations

import pytest
from PIL import Image

from automata_desktop.config import ServerConfig
from automata_desktop.core.generation import GenerationStatus
from automata_desktop.core.maps import MapKind
from automata_desktop.runtime import all_workflows
from tests.engine_helpers import save_graph, template
from tests.gui.test_library_and_inspector import generate_locally
from tests.gui.workbench_helpers import open_workbench, wait_for

pytestmark = pytest.mark.gui


def shown_paths(window) -> set:
    return {t.path for t in window.texture_set or () if t.path is not None}


def test_deleting_the_generation_on_the_mesh_takes_its_maps_off_and_replace_still_works(
        qapp, tmp_path):
    bench = open_workbench(qapp, tmp_path / "library")
    window = bench.window
    errors: list[str] = []
    window.failed.connect(errors.append)
    gen_id = generate_locally(qapp, bench)
    folder = tmp_path / "library" / "files" / gen_id
    wait_for(qapp, lambda: any(folder in p.parents for p in shown_paths(window))
             and not window.busy, 30, "the finished maps on the mesh")

    said: list[str] = []
    window.statusBar().messageChanged.connect(said.append)
    bench.library.delete(gen_id)  # what the confirmed Delete button does

    wait_for(qapp, lambda: not any(folder in p.parents for p in shown_paths(window))
             and not window.busy, 30, "the deleted maps to leave the mesh")
    assert any("taken off the mesh" in text for text in said)
    assert MapKind.BASE_COLOR not in (window.texture_set or ())  # the cube had no colour map
    mine = tmp_path / "mine_normal.png"
    Image.new("RGB", (32, 32), (128, 128, 255)).save(mine)
    bench.inspector.replace_requested.emit(MapKind.NORMAL, mine)
    wait_for(qapp, lambda: mine in shown_paths(window) and not window.busy, 30, "the new normal")
    assert errors == []  # before: "… does not exist" for the deleted base colour
    window.close()


def test_deleting_a_generation_still_queued_on_a_server_takes_it_off_that_queue(
        qapp, tmp_path, fake_comfy):
    comfy = fake_comfy
    flows = {**all_workflows(), "held": template(save_graph(color=0x808080), name="held")}
    bench = open_workbench(qapp, tmp_path / "library", workflows=flows,
                           servers=(ServerConfig(comfy.url, "fake"),))
    panel = bench.generation
    comfy.hold("2")  # the SaveImage node waits: the prompt stays on the server
    panel.select(server=comfy.url, workflow="held")
    before = set(panel.queue.rows)
    panel.submit()
    wait_for(qapp, lambda: set(panel.queue.rows) - before, 20, "the queue row")
    [gen_id] = set(panel.queue.rows) - before
    wait_for(qapp, lambda: panel.queue.rows[gen_id].status is GenerationStatus.RUNNING, 20,
             "the run to start")

    deleted: list[str] = []
    bench.controller.generation_deleted.connect(lambda gid, _paths: deleted.append(gid))
    bench.library.delete(gen_id)
    wait_for(qapp, lambda: deleted == [gen_id], 20, "the delete")

    seen = comfy.requests()["requests"]
    told = [r for r in seen if r["method"] == "POST"
            and (r["path"].endswith("/interrupt") or r["path"].endswith("/queue"))]
    assert told, "the server was never told to stop the deleted generation"
    comfy.release("2")
    assert bench.controller.runtime.library.get(gen_id) is None
    assert panel.queue.rows[gen_id].status is GenerationStatus.CANCELLED
    bench.window.close()
