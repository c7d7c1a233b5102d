"""Shipped workflows are valid ComfyUI API prompts whose manifests the app can rely on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from comfy_nodes import NODE_CLASS_MAPPINGS

WORKFLOWS = Path(__file__).resolve().parent.parent / "resources" / "workflows"
CORE = {
    line.strip()
    for line in (Path(__file__).parent / "fixtures" / "core_node_classes.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
}
TYPES = {"string", "text", "int", "float", "bool", "image", "mesh", "choice"}
NAMES = sorted(p.name.removesuffix(".manifest.json") for p in WORKFLOWS.glob("*.manifest.json"))


def load(name: str) -> tuple[dict, dict]:
    return (
        json.loads((WORKFLOWS / f"{name}.json").read_text()),
        json.loads((WORKFLOWS / f"{name}.manifest.json").read_text()),
    )


def test_the_three_texturing_workflows_ship():
    assert {"pbr_from_image", "hunyuan3d2_paint", "text_to_texture_sdxl"} <= set(NAMES)
    assert len(CORE) > 400 and "KSampler" in CORE


@pytest.mark.parametrize("name", NAMES)
def test_workflow_is_an_api_prompt_with_resolvable_links(name):
    prompt, _ = load(name)
    assert isinstance(prompt, dict) and prompt
    for node_id, node in prompt.items():
        assert node_id.isdigit() and isinstance(node["class_type"], str)
        for value in node["inputs"].values():
            if isinstance(value, list):  # a link: [source node id, output index]
                source, index = value
                assert source in prompt and isinstance(index, int), (node_id, value)


@pytest.mark.parametrize("name", NAMES)
def test_every_node_class_is_core_ours_or_declared(name):
    prompt, manifest = load(name)
    declared = {cls for pack in manifest["node_packs"] for cls in pack["nodes"]}
    for node in prompt.values():
        cls = node["class_type"]
        assert cls in CORE or cls in declared, f"{name}: {cls} needs a node pack in the manifest"
        if cls in NODE_CLASS_MAPPINGS:
            assert cls in declared, f"{name}: list {cls} under the AUTOMATA nodes pack"
    for pack in manifest["node_packs"]:
        assert pack["name"] and pack["install"] and pack["nodes"]


@pytest.mark.parametrize("name", NAMES)
def test_our_nodes_get_every_required_input_and_only_known_ones(name):
    prompt, _ = load(name)
    for node_id, node in prompt.items():
        cls = NODE_CLASS_MAPPINGS.get(node["class_type"])
        if cls is None:
            continue
        spec = cls.INPUT_TYPES()
        known = {**spec.get("required", {}), **spec.get("optional", {})}
        assert set(spec.get("required", {})) <= set(node["inputs"]), node_id
        assert set(node["inputs"]) <= set(known), node_id
        for key, value in node["inputs"].items():
            if isinstance(known[key][0], list) and not isinstance(value, list):
                assert value in known[key][0], (node_id, key, value)


@pytest.mark.parametrize("name", NAMES)
def test_every_parameter_binds_to_an_existing_node_input(name):
    prompt, manifest = load(name)
    assert manifest["name"] == name and manifest["title"] and manifest["description"]
    assert isinstance(manifest["local"], bool)
    for pname, param in manifest["parameters"].items():
        assert param["type"] in TYPES, pname
        assert param["bind"], pname
        for target in param["bind"]:
            node_id, _, input_name = target.partition(".")
            assert node_id in prompt, f"{pname} binds to missing node {node_id}"
            assert input_name in prompt[node_id]["inputs"], f"{pname} binds to missing {target}"
            assert not isinstance(prompt[node_id]["inputs"][input_name], list), (
                f"{pname} would overwrite the link at {target}"
            )
        if "choices" in param and "default" in param:
            assert param["default"] in param["choices"], pname


@pytest.mark.parametrize("name", NAMES)
def test_results_arrive_through_the_automata_webhook(name):
    prompt, manifest = load(name)
    hook = manifest["outputs"]["webhook_node"]
    assert prompt[hook]["class_type"] == "AutomataWebhook"
    bound = {t for p in manifest["parameters"].values() for t in p["bind"]}
    assert {f"{hook}.webhook_url", f"{hook}.generation_id"} <= bound
    for model in manifest["models"]:
        assert model["folder"] and model["filename"] and model["url"].startswith("https://")


def test_only_the_model_free_workflow_claims_to_run_locally():
    local = {n for n in NAMES if load(n)[1]["local"]}
    assert local == {"pbr_from_image"}
    prompt, _ = load("pbr_from_image")
    assert {n["class_type"] for n in prompt.values()} <= {"LoadImage", *NODE_CLASS_MAPPINGS}


def test_the_painted_mesh_is_handed_to_the_webhook():
    prompt, manifest = load("hunyuan3d2_paint")
    hook = prompt[manifest["outputs"]["webhook_node"]]
    source = hook["inputs"]["mesh_path"][0]
    assert prompt[source]["class_type"] == "Hy3DExportMesh"
    assert prompt[source]["inputs"]["file_format"] == "glb"
