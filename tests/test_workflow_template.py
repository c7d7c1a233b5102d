"""Workflows: API format only, parameters type-checked and bound into a fresh graph."""

import json

import pytest

from automata_desktop.core.workflow import load_workflow, parse_workflow
from automata_desktop.errors import ParameterError, WorkflowError

GRAPH = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}},
    "2": {"class_type": "KSampler", "inputs": {"seed": 0, "steps": 20, "cfg": 7.0}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "p"}},
}
MANIFEST = {
    "name": "demo",
    "parameters": {
        "image": {"type": "image", "bind": ["1.image"], "required": True},
        "seed": {"type": "int", "bind": ["2.seed"], "min": 0, "max": 2**64 - 1},
        "steps": {"type": "int", "bind": ["2.steps"], "default": 25, "min": 1, "max": 150},
        "cfg": {"type": "float", "bind": ["2.cfg"]},
        "size": {"type": "int", "bind": ["2.steps"], "choices": [1024, 2048]},
    },
}


def test_binding_sets_inputs_and_never_mutates_the_template():
    template = parse_workflow(GRAPH, manifest=MANIFEST)
    graph = template.bind({"image": "ref.png", "seed": "42", "cfg": "5.5"})
    assert graph["1"]["inputs"]["image"] == "ref.png"
    assert graph["2"]["inputs"] == {"seed": 42, "steps": 25, "cfg": 5.5}
    assert template.graph["2"]["inputs"]["seed"] == 0
    assert GRAPH["2"]["inputs"]["steps"] == 20


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"image": "a.png", "seed": "abc"}, "expects int"),
        ({"image": "a.png", "steps": 0}, "must be ≥ 1"),
        ({"image": "a.png", "size": 512}, "one of 1024, 2048"),
        ({"image": "a.png", "seed": 1.5}, "expects int"),
        ({"image": "a.png", "colour": "red"}, "has no parameter colour"),
        ({}, "needs parameter 'image'"),
    ],
)
def test_bad_values_are_refused_with_the_parameter_named(values, message):
    template = parse_workflow(GRAPH, manifest=MANIFEST)
    with pytest.raises(ParameterError, match=message):
        template.bind(values)


def test_ui_format_files_get_told_to_export_api_format(tmp_path):
    path = tmp_path / "ui.json"
    path.write_text(json.dumps({"nodes": [{"id": 1, "type": "LoadImage"}], "links": []}))
    with pytest.raises(WorkflowError, match=r"Export \(API\)"):
        load_workflow(path)


def test_a_manifest_binding_to_a_missing_node_is_an_error():
    manifest = {"parameters": {"seed": {"type": "int", "bind": ["9.seed"]}}}
    with pytest.raises(WorkflowError, match="not a node input"):
        parse_workflow(GRAPH, manifest=manifest)


def test_broken_json_and_missing_class_type_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    with pytest.raises(WorkflowError, match="cannot read workflow"):
        load_workflow(bad)
    with pytest.raises(WorkflowError, match="no class_type"):
        parse_workflow({"1": {"inputs": {}}})
    with pytest.raises(WorkflowError, match="not found"):
        load_workflow(tmp_path / "nope.json")


def test_a_saved_post_prompt_body_is_accepted():
    template = parse_workflow({"prompt": GRAPH, "client_id": "x"})
    assert template.class_types == {"LoadImage", "KSampler", "SaveImage"}
