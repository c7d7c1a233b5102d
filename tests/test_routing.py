"""The pool's routing rule: only where the workflow can run, least loaded first, the server that
already has the model loaded on a tie, never over a server's in-flight cap."""

from __future__ import annotations

from automata_desktop.backends.base import Capabilities
from automata_desktop.jobs.routing import Health, Needs, ServerState, choose, nowhere_to_run

SDXL = "sd_xl_base_1.0.safetensors"
GRAPH = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": SDXL}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "x"}},
}
NEEDS = Needs.of_graph(GRAPH)


def caps(*models: str, nodes: tuple[str, ...] = ("CheckpointLoaderSimple", "SaveImage")
         ) -> Capabilities:
    return Capabilities(version="0.3.64", node_classes=frozenset(nodes),
                        models={"CheckpointLoaderSimple.ckpt_name": models})


def server(url: str, *models: str, health: Health = Health.UP, in_flight: int = 0,
           queue: int = 0, recent: tuple[str, ...] = (), **kw) -> ServerState:
    return ServerState(url, health, caps(*models, **kw), in_flight, queue, frozenset(recent))


def test_a_graph_needs_its_node_classes_and_the_model_files_it_names():
    assert NEEDS.class_types == {"CheckpointLoaderSimple", "SaveImage"}
    assert NEEDS.models == {("CheckpointLoaderSimple.ckpt_name", SDXL)}
    assert NEEDS.lacking(caps()) == [f"model {SDXL}"]
    assert NEEDS.lacking(caps(SDXL, nodes=("SaveImage",))) == ["node CheckpointLoaderSimple"]


def test_only_a_server_with_the_nodes_and_models_is_chosen():
    pool = [server("http://a", "other.ckpt"), server("http://b", SDXL, nodes=("SaveImage",)),
            server("http://c", SDXL, in_flight=1)]
    assert choose(pool, NEEDS).url == "http://c"


def test_the_least_loaded_capable_server_wins_and_the_queue_counts_other_users():
    pool = [server("http://a", SDXL, in_flight=1), server("http://b", SDXL, queue=3),
            server("http://c", SDXL)]
    assert choose(pool, NEEDS).url == "http://c"
    pool[2].in_flight = 1
    assert choose(pool, NEEDS).url == "http://a"  # b has three of someone else's waiting


def test_on_equal_load_the_server_that_last_ran_the_same_model_is_preferred():
    pool = [server("http://a", SDXL), server("http://b", SDXL, recent=(SDXL,))]
    assert choose(pool, NEEDS).url == "http://b"
    assert choose(pool, Needs.of_graph({"9": GRAPH["9"]})).url == "http://a"  # no model: order


def test_a_busy_down_or_paused_server_gets_nothing_and_the_generation_waits():
    pool = [server("http://a", SDXL, in_flight=2), server("http://b", SDXL, health=Health.DOWN),
            server("http://c", SDXL, health=Health.PAUSED)]
    assert choose(pool, NEEDS) is None
    assert choose(pool, NEEDS, max_in_flight=3).url == "http://a"
    assert nowhere_to_run(pool, NEEDS) is None  # they can run it, just not now


def test_a_workflow_no_server_can_run_says_what_each_lacks():
    pool = [server("http://a", "other.ckpt"), server("http://b", SDXL, nodes=("SaveImage",))]
    text = nowhere_to_run(pool, NEEDS)
    assert text is not None
    assert f"http://a lacks model {SDXL}" in text and "http://b lacks node Checkpoint" in text
    assert nowhere_to_run([*pool, ServerState("http://new")], NEEDS) is None  # not yet known


def test_a_free_slow_server_gets_nothing_a_busy_fast_one_would_finish_sooner():
    fast, slow = server("http://fast", SDXL, in_flight=2), server("http://slow", SDXL)
    fast.ran("sdxl", 10.0)
    slow.ran("sdxl", 40.0)
    # fast is at its cap but done with its two and this one in 30 s; slow would take 40 s.
    assert choose([fast, slow], NEEDS, workflow="sdxl") is None
    slow.ran("sdxl", 10.0)  # smoothed: 0.6 x 40 + 0.4 x 10 = 28 s, sooner than fast's 30 s
    assert slow.run_s["sdxl"] == 28.0
    assert choose([fast, slow], NEEDS, workflow="sdxl").url == "http://slow"
    fast.in_flight = 1  # fast has room: 20 s beats 28 s
    assert choose([fast, slow], NEEDS, workflow="sdxl").url == "http://fast"
    assert choose([fast, slow], NEEDS, workflow="other").url == "http://slow"  # untimed: load
