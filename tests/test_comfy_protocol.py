"""The client reads every kind of message ComfyUI sends, as recorded from a real server."""

import json
from pathlib import Path

import pytest

from automata_desktop.comfy import events as ev
from automata_desktop.comfy.protocol import (
    describe_prompt_errors,
    parse_binary,
    parse_history_entry,
    parse_text,
)
from automata_desktop.jobs.progress import ProgressTracker

FIXTURES = Path(__file__).parent / "fixtures" / "comfy"


def _transcript(name: str) -> dict:
    return json.loads((FIXTURES / "transcripts" / name).read_text())


def _frames(name: str, socket: str = "owner"):
    for client in _transcript(name)["clients"]:
        if client["name"] == socket:
            for message in client["messages"]:
                if message.get("dir") == "recv" and message.get("kind") == "text":
                    yield message["raw"]


def test_a_recorded_run_becomes_typed_events_in_order():
    kinds = [type(parse_text(raw)).__name__ for raw in _frames("02_empty_save.json")]
    first_run = kinds[: kinds.index("PromptFinished") + 1]
    assert first_run[0] == "QueueStatus"
    for expected in ("ExecutionStarted", "NodesCached", "NodeExecuting", "NodeOutput",
                     "ExecutionSucceeded", "PromptFinished"):
        assert expected in first_run
    assert first_run.index("NodeOutput") < first_run.index("ExecutionSucceeded")


def test_executed_lists_the_files_to_fetch():
    outputs = [e for e in map(parse_text, _frames("02_empty_save.json"))
               if isinstance(e, ev.NodeOutput)]
    assert outputs[0].files[0] == ev.OutputRef("empty_00001_.png", "probe", "output", "2", "images")


def test_execution_error_carries_a_readable_message():
    failures = [e for e in map(parse_text, _frames("09_execution_error.json"))
                if isinstance(e, ev.ExecutionFailed)]
    assert failures
    assert "ProbeRaise" in failures[0].message and "deliberate failure" in failures[0].message


@pytest.mark.parametrize("raw", [
    "not json", "[]", '{"type": "status"}', '{"type": "assets.seed.started", "data": {}}',
    '{"type": "notification", "data": {"value": "x"}}', '{"type": "executing", "data": {"node": "2"}}',
])
def test_unknown_or_unattributable_messages_are_ignored(raw):
    assert parse_text(raw) is None


def test_newer_fields_do_not_break_parsing():
    raw = json.dumps({"type": "progress_state", "data": {"prompt_id": "p", "nodes": {
        "3": {"value": 2, "max": 10, "state": "running", "activity": "loading", "node_id": "3"}}}})
    event = parse_text(raw)
    assert event == ev.ProgressState("p", (ev.NodeProgress("3", 2.0, 10.0, "running"),))


@pytest.mark.parametrize(("sample", "mime", "has_prompt"), [
    ("event1_PNG_legacy_no_flags.bin", "image/png", False),
    ("event1_JPEG_legacy_no_flags.bin", "image/jpeg", False),
    ("event4_PNG_modern_with_flags.bin", "image/png", True),
    ("event4_JPEG_modern_with_flags.bin", "image/jpeg", True),
])
def test_binary_preview_frames_decode_to_images(sample, mime, has_prompt):
    event = parse_binary((FIXTURES / "binary_samples" / sample).read_bytes())
    assert isinstance(event, ev.Preview)
    assert event.mime == mime
    assert event.image[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb")
    assert (event.prompt_id is not None) == has_prompt


def test_binary_text_frames_decode():
    event = parse_binary((FIXTURES / "binary_samples" / "event3_text_owner.bin").read_bytes())
    assert event == ev.ProgressText("2", "width: 20, height: 10\n batch size: 2")


def test_truncated_binary_frames_are_ignored():
    assert parse_binary(b"\x00\x00") is None
    assert parse_binary(b"\x00\x00\x00\x09\x00\x00\x00\x00") is None


def test_history_of_a_finished_prompt():
    http = _transcript("08_invalid_prompts.json")["http"]
    body = next(h["response"]["json"] for h in http if h["request"]["path"].startswith("/history/"))
    prompt_id, entry = next(iter(body.items()))
    result = parse_history_entry(prompt_id, entry)
    assert result.status == "success" and result.completed
    assert [f.filename for f in result.files] == ["empty_00003_.png"]


def test_400_bodies_become_one_line_per_node_input():
    http = _transcript("08_invalid_prompts.json")["http"]
    first = http[0]["response"]["json"]
    headline, problems = describe_prompt_errors(first)
    assert headline == "Prompt outputs failed validation"
    assert problems == ["node 2 (SaveImage): input 'images' is not connected"]
    unknown = next(h["response"]["json"] for h in http
                   if h["response"].get("json", {}).get("error", {}).get("type") == "invalid_prompt")
    headline, problems = describe_prompt_errors(unknown)
    assert "does not exist" in headline and problems == []


def test_progress_weights_steps_and_never_reaches_100_before_results():
    tracker = ProgressTracker.for_graph(["1", "2", "3", "4"])
    tracker.cached(["1"])
    tracker.executing("2")
    tracker.executing("3")
    tracker.step("3", 10, 40)  # a sampler: most of the work
    quarter = tracker.fraction
    tracker.step("3", 40, 40)
    tracker.executing("4")
    tracker.node_finished("4")
    assert 0 < quarter < tracker.fraction <= 0.99
    tracker.complete()
    assert tracker.fraction == 1.0


def _validation_body(class_type: str, error: dict) -> dict:
    return {"error": {"type": "prompt_outputs_failed_validation",
                      "message": "Prompt outputs failed validation", "details": "",
                      "extra_info": {}},
            "node_errors": {"4": {"errors": [error], "dependent_outputs": ["9"],
                                  "class_type": class_type}}}


def test_validation_errors_are_reworded_per_node_and_input():
    http = _transcript("08_invalid_prompts.json")["http"]
    combo = next(h["response"]["json"] for h in http
                 if "upscale_method" in json.dumps(h["response"].get("json")))
    _, [problem] = describe_prompt_errors(combo, {"3": {"_meta": {"title": "Texture size"}}})
    assert problem == ("node 3 “Texture size” (ImageScale) input 'upscale_method': 'bogus' is not "
                       "one of nearest-exact, bilinear, area, bicubic, lanczos")
    image = next(h["response"]["json"] for h in http
                 if "Invalid image file" in json.dumps(h["response"].get("json")))
    _, [problem] = describe_prompt_errors(image)
    assert problem == ("node 10 (LoadImage): the image 'missing.png' is not in ComfyUI's input "
                       "folder (upload it, or pick another)")


def test_a_missing_checkpoint_names_the_folder_to_put_it_in():
    body = _validation_body("CheckpointLoaderSimple", {
        "type": "value_not_in_list", "message": "Value not in list",
        "details": "ckpt_name: 'sd_xl_base_1.0.safetensors' not in []",
        "extra_info": {"input_name": "ckpt_name", "input_config": [[], {}],
                       "received_value": "sd_xl_base_1.0.safetensors"}})
    _, [problem] = describe_prompt_errors(body)
    assert problem == ("node 4 (CheckpointLoaderSimple): the model file "
                       "'sd_xl_base_1.0.safetensors' is not on this server; put it in "
                       "ComfyUI/models/checkpoints/ and restart ComfyUI (it has no checkpoints "
                       "at all)")
