"""Bringing your own workflow: UI-format graphs converted as ComfyUI's frontend does, images that
carry a workflow, parameters found by what nodes do, and what the server lacks named up front."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from automata_desktop.core.ui_workflow import ui_to_api
from automata_desktop.core.workflow import parse_workflow
from automata_desktop.core.workflow_file import read_workflow_file
from automata_desktop.core.workflow_needs import PackIndex, missing_models, missing_nodes
from automata_desktop.core.workflow_params import discover
from automata_desktop.errors import ParameterError, WorkflowError
from automata_desktop.workflow_import import ServerKnowledge, import_workflow

FIXTURES = Path(__file__).parent / "fixtures"
WORKFLOWS = FIXTURES / "workflows"
OBJECT_INFO = json.loads((FIXTURES / "comfy" / "object_info_full.json").read_text())
SHIPPED = Path(__file__).resolve().parents[1] / "resources" / "workflows"


def ui_fixture() -> dict:
    return json.loads((WORKFLOWS / "txt2img_sd15.ui.json").read_text())


def api_fixture() -> dict:
    return json.loads((WORKFLOWS / "txt2img_sd15.api.json").read_text())


def node(ui: dict, node_id: int) -> dict:
    return next(n for n in ui["nodes"] if n["id"] == node_id)


def inputs_of(graph: dict) -> dict:
    """Node for node, value for value; the frontend's `_meta` titles are not part of the run."""
    return {k: (v["class_type"], v["inputs"]) for k, v in graph.items()}


# -- conversion -----------------------------------------------------------------------------------


def test_a_ui_workflow_converts_to_the_prompt_the_frontend_queues():
    converted = ui_to_api(ui_fixture(), OBJECT_INFO)
    assert inputs_of(converted.graph) == inputs_of(api_fixture())
    assert converted.unknown_classes == ()


def test_the_primitive_node_value_wins_over_the_stale_widget_value():
    graph = ui_to_api(ui_fixture(), OBJECT_INFO).graph
    assert graph["3"]["inputs"]["seed"] == 156680208700286  # the widget itself still says 1
    # the control value after the seed ("randomize") shifted nothing: steps/cfg are right
    assert (graph["3"]["inputs"]["steps"], graph["3"]["inputs"]["cfg"]) == (20, 8)


def test_reroutes_get_set_nodes_and_a_bypassed_node_are_looked_through():
    graph = ui_to_api(ui_fixture(), OBJECT_INFO).graph
    assert graph["8"]["inputs"]["vae"] == ["4", 2]  # GetNode "vae" -> SetNode -> the checkpoint
    assert graph["20:1"]["inputs"]["image"] == ["8", 0]  # 2 reroutes + bypassed ImageInvert
    assert not {"10", "11", "12", "14", "15", "16", "17"} & set(graph)


def test_a_muted_node_is_left_out_and_said_so():
    converted = ui_to_api(ui_fixture(), OBJECT_INFO)
    assert "13" not in converted.graph
    assert any("muted" in n and "SaveImage" in n for n in converted.notices)


def test_unmuting_the_node_brings_it_back_with_its_input():
    ui = ui_fixture()
    node(ui, 13)["mode"] = 0
    graph = ui_to_api(ui, OBJECT_INFO).graph
    assert graph["13"]["inputs"] == {"filename_prefix": "debug", "images": ["8", 0]}


def test_a_muted_origin_removes_the_input_it_fed():
    ui = ui_fixture()
    node(ui, 8)["mode"] = 2  # VAEDecode muted: the upscale's image input points at nothing
    graph = ui_to_api(ui, OBJECT_INFO).graph
    assert "8" not in graph and "image" not in graph["20:1"]["inputs"]


def test_subgraph_nodes_are_numbered_like_the_frontend_numbers_them():
    graph = ui_to_api(ui_fixture(), OBJECT_INFO).graph
    assert graph["20:2"]["inputs"]["image"] == ["20:1", 0]
    assert graph["9"]["inputs"]["images"] == ["20:2", 0]  # the subgraph's output resolved inside
    assert "20" not in graph


def test_a_widget_converted_to_an_input_takes_its_link():
    ui = ui_fixture()
    # feed the positive prompt's text from a real string node instead of its widget
    ui["nodes"].append({"id": 30, "type": "PrimitiveStringMultiline", "mode": 0, "inputs": [],
                        "outputs": [{"name": "STRING", "type": "STRING", "links": [40]}],
                        "widgets_values": ["from a string node"]})
    node(ui, 6)["inputs"].append({"name": "text", "type": "STRING", "widget": {"name": "text"},
                                  "link": 40})
    ui["links"].append([40, 30, 0, 6, 1, "STRING"])
    graph = ui_to_api(ui, OBJECT_INFO).graph
    assert graph["6"]["inputs"]["text"] == ["30", 0]
    assert graph["30"]["inputs"] == {"value": "from a string node"}


def test_a_node_class_the_server_lacks_is_kept_and_reported():
    ui = ui_fixture()
    node(ui, 9)["type"] = "Hy3DPaintFancySave"
    converted = ui_to_api(ui, OBJECT_INFO)
    assert converted.unknown_classes == ("Hy3DPaintFancySave",)
    assert converted.graph["9"]["inputs"]["images"] == ["20:2", 0]


def test_legacy_group_nodes_are_refused_with_the_fix():
    ui = ui_fixture()
    node(ui, 9)["type"] = "workflow>Save set"
    ui["extra"]["groupNodes"] = {"Save set": {"nodes": [], "links": []}}
    with pytest.raises(WorkflowError, match="Convert to subgraph"):
        ui_to_api(ui, OBJECT_INFO)


def test_links_that_loop_are_an_error_not_a_hang():
    ui = ui_fixture()
    node(ui, 11)["inputs"][0]["link"] = 10  # reroute 11 <- reroute 12 <- reroute 11
    ui["links"].append([10, 12, 0, 11, 0, "IMAGE"])
    ui["links"] = [lk for lk in ui["links"] if not (lk[0] == 10 and lk[1] == 11)]
    with pytest.raises(WorkflowError, match="loop"):
        ui_to_api(ui, OBJECT_INFO)


# -- files and images ------------------------------------------------------------------------------


def comfy_png(path: Path, *, prompt: dict | None, workflow: dict | None) -> Path:
    """A PNG as ComfyUI's SaveImage writes it: tEXt chunks 'prompt' and 'workflow'."""
    info = PngInfo()
    if prompt is not None:
        info.add_text("prompt", json.dumps(prompt))
    if workflow is not None:
        info.add_text("workflow", json.dumps(workflow))
    Image.new("RGB", (8, 8), (120, 90, 60)).save(path, pnginfo=info)
    return path


def comfy_webp(path: Path, *, prompt: dict, workflow: dict) -> Path:
    """A WebP as ComfyUI's SaveAnimatedWEBP writes it: EXIF Model 'prompt:…', Make 'workflow:…'."""
    exif = Image.Exif()
    exif[0x0110] = "prompt:" + json.dumps(prompt)
    exif[0x010F] = "workflow:" + json.dumps(workflow)
    Image.new("RGB", (8, 8), (120, 90, 60)).save(path, exif=exif)
    return path


def test_an_output_image_embeds_a_ui_graph_that_converts_to_the_prompt_it_ran(tmp_path):
    png = comfy_png(tmp_path / "ComfyUI_00001_.png", prompt=api_fixture(), workflow=ui_fixture())
    found = read_workflow_file(png)
    assert found.kind == "image"
    assert inputs_of(ui_to_api(found.ui, OBJECT_INFO).graph) == inputs_of(found.api)


def test_importing_an_image_prefers_the_api_prompt(tmp_path):
    prompt = api_fixture()
    prompt["6"]["inputs"]["text"] = "what really ran"
    png = comfy_png(tmp_path / "ComfyUI_00002_.png", prompt=prompt, workflow=ui_fixture())
    result = import_workflow(png, knowledge=None, dest=tmp_path / "wf")
    saved = json.loads(result.path.read_text())
    assert saved["6"]["inputs"]["text"] == "what really ran"
    assert any("API prompt" in n for n in result.notices)


def test_a_webp_carries_the_workflow_in_exif(tmp_path):
    webp = comfy_webp(tmp_path / "anim.webp", prompt=api_fixture(), workflow=ui_fixture())
    found = read_workflow_file(webp)
    assert found.api == api_fixture() and found.ui["version"] == 0.4


def test_an_image_without_a_workflow_says_so(tmp_path):
    png = comfy_png(tmp_path / "photo.png", prompt=None, workflow=None)
    with pytest.raises(WorkflowError, match="carries no ComfyUI workflow"):
        read_workflow_file(png)


@pytest.mark.parametrize(("content", "message"), [
    ('{"nodes": [', r"not valid JSON \(line 1"),
    ('{"hello": "world"}', "not a ComfyUI workflow"),
    ("", "not valid JSON"),
])
def test_bad_files_get_clear_messages(tmp_path, content, message):
    path = tmp_path / "broken.json"
    path.write_text(content)
    with pytest.raises(WorkflowError, match=message):
        read_workflow_file(path)


def test_a_corrupt_image_is_a_clear_error(tmp_path):
    path = tmp_path / "cut.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises(WorkflowError, match="not a readable image"):
        read_workflow_file(path)


# -- parameters by role ---------------------------------------------------------------------------


def roles(graph: dict) -> dict[str, list[str]]:
    return {name: spec["bind"] for name, spec in discover(graph, OBJECT_INFO).parameters.items()}


def test_sd15_roles_follow_the_links_to_the_sampler():
    found = roles(api_fixture())
    assert found["prompt"] == ["6.text"] and found["negative_prompt"] == ["7.text"]
    assert found["seed"] == ["3.seed"] and found["steps"] == ["3.steps"]
    assert found["cfg"] == ["3.cfg"] and found["sampler"] == ["3.sampler_name"]
    assert found["scheduler"] == ["3.scheduler"] and found["checkpoint"] == ["4.ckpt_name"]
    assert (found["width"], found["height"], found["batch_size"]) == (
        ["5.width"], ["5.height"], ["5.batch_size"])


def test_swapped_titles_do_not_fool_the_prompt_finder():
    graph = api_fixture()
    graph["3"]["inputs"]["positive"], graph["3"]["inputs"]["negative"] = ["7", 0], ["6", 0]
    found = roles(graph)
    assert found["prompt"] == ["7.text"] and found["negative_prompt"] == ["6.text"]


def test_sdxl_prompts_through_a_controlnet_and_a_combine():
    graph = json.loads((SHIPPED / "text_to_texture_sdxl.json").read_text())
    # positive: encoder 2 -> ControlNetApplyAdvanced (pos/neg) -> combine with an area prompt
    graph["20"] = {"class_type": "ControlNetLoader", "inputs": {"control_net_name": "cn.pth"}}
    graph["21"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {
        "positive": ["2", 0], "negative": ["3", 0], "control_net": ["20", 0], "image": ["6", 0],
        "strength": 0.8, "start_percent": 0.0, "end_percent": 1.0}}
    graph["22"] = {"class_type": "ConditioningCombine", "inputs": {
        "conditioning_1": ["21", 0], "conditioning_2": ["23", 0]}}
    graph["23"] = {"class_type": "CLIPTextEncode", "inputs": {"text": "moss", "clip": ["1", 1]}}
    graph["5"]["inputs"]["positive"] = ["22", 0]
    graph["5"]["inputs"]["negative"] = ["21", 1]
    found = discover(graph, OBJECT_INFO).parameters
    assert found["prompt"]["bind"] == ["2.text", "23.text"]
    assert found["negative_prompt"]["bind"] == ["3.text"]
    assert found["controlnet"]["folder"] == "controlnet" and found["strength"]["bind"] == [
        "21.strength"]


def test_img2img_finds_the_image_and_the_denoise():
    graph = api_fixture()
    graph["10"] = {"class_type": "LoadImage", "inputs": {"image": "example.png"},
                   "_meta": {"title": "Reference"}}
    graph["11"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["4", 2]}}
    graph["3"]["inputs"]["latent_image"] = ["11", 0]
    graph["3"]["inputs"]["denoise"] = 0.55
    del graph["5"]
    found = discover(graph, OBJECT_INFO).parameters
    assert found["image"]["bind"] == ["10.image"] and found["image"]["type"] == "image"
    assert found["denoise"]["default"] == 0.55 and "width" not in found


def test_inpaint_finds_the_image_and_the_mask_loaders():
    graph = api_fixture()
    graph["10"] = {"class_type": "LoadImage", "inputs": {"image": "wall.png"}}
    graph["12"] = {"class_type": "LoadImage", "inputs": {"image": "mask.png"},
                   "_meta": {"title": "Mask"}}
    graph["11"] = {"class_type": "VAEEncodeForInpaint", "inputs": {
        "pixels": ["10", 0], "vae": ["4", 2], "mask": ["12", 1], "grow_mask_by": 6}}
    graph["3"]["inputs"]["latent_image"] = ["11", 0]
    found = discover(graph, OBJECT_INFO).parameters
    assert found["image"]["bind"] == ["10.image"] and found["image_2"]["bind"] == ["12.image"]
    assert found["image_2"]["label"] == "Mask"


def test_a_3d_graph_finds_the_mesh_the_image_and_the_mesh_output():
    graph = json.loads((SHIPPED / "hunyuan3d2_paint.json").read_text())
    found = discover(graph, OBJECT_INFO)
    mesh_inputs = [b for p in found.parameters.values() if p["type"] == "mesh" for b in p["bind"]]
    assert mesh_inputs, found.parameters
    assert "image" in found.parameters
    assert any(o["kind"] == "mesh" for o in found.outputs)


def test_output_kinds_come_from_titles_and_prefixes():
    graph = api_fixture()
    graph["30"] = {"class_type": "SaveImage", "_meta": {"title": "Save normal map"},
                   "inputs": {"images": ["8", 0], "filename_prefix": "x"}}
    graph["31"] = {"class_type": "PreviewImage", "_meta": {"title": "Preview Image"},
                   "inputs": {"images": ["8", 0]}}
    graph["32"] = {"class_type": "SaveImage", "_meta": {"title": "Save Image"},
                   "inputs": {"images": ["8", 0], "filename_prefix": "textures/brick_roughness"}}
    kinds = {o["node"]: o["kind"] for o in discover(graph, OBJECT_INFO).outputs}
    assert kinds == {"9": "base_color", "30": "normal", "31": "other", "32": "roughness"}


# -- what the server lacks ------------------------------------------------------------------------


def test_missing_models_name_their_folder():
    graph = api_fixture()
    [model] = missing_models(graph, OBJECT_INFO)  # the recorded server has no checkpoint at all
    assert (model.filename, model.folder) == ("v1-5-pruned-emaonly.safetensors", "checkpoints")
    assert "ComfyUI/models/checkpoints/" in model.describe()


def test_missing_nodes_are_named_with_the_managers_pack():
    mappings = json.loads((FIXTURES / "comfy_packs" / "ComfyUI-Manager" /
                           "extension-node-map.json").read_text())
    lacking = missing_nodes({"KSampler", "Hy3DPaint", "IPAdapterAdvanced", "Mystery"},
                            OBJECT_INFO, PackIndex(mappings))
    by_class = {m.class_type: m.pack for m in lacking}
    assert set(by_class) == {"Hy3DPaint", "IPAdapterAdvanced", "Mystery"}
    assert by_class["Hy3DPaint"].url == "https://github.com/kijai/ComfyUI-Hunyuan3DWrapper"
    assert by_class["IPAdapterAdvanced"].title == "ComfyUI_IPAdapter_plus"  # by its pattern
    assert by_class["Mystery"] is None


# -- saving and binding ---------------------------------------------------------------------------


def test_an_import_saves_a_workflow_that_binds_prompt_and_seed(tmp_path):
    knowledge = ServerKnowledge("http://gpu:8188", OBJECT_INFO)
    source = tmp_path / "my graph.json"
    source.write_text(json.dumps(ui_fixture()))
    result = import_workflow(source, knowledge=knowledge, dest=tmp_path / "wf")
    assert result.name == "my_graph" and result.source == "ui"
    assert [m.folder for m in result.missing_models] == ["checkpoints"]
    template = parse_workflow(json.loads(result.path.read_text()), name=result.name,
                              manifest=json.loads(result.manifest_path.read_text()))
    graph = template.bind({"prompt": "rusty metal plates", "seed": 7, "3.steps": "35"})
    assert graph["6"]["inputs"]["text"] == "rusty metal plates"
    assert graph["3"]["inputs"]["seed"] == 7 and graph["3"]["inputs"]["steps"] == 35
    with pytest.raises(ParameterError, match="has no parameter colour"):
        template.bind({"colour": "red"})


def test_a_ui_workflow_without_node_definitions_is_refused_with_the_fix(tmp_path):
    source = tmp_path / "ui.json"
    source.write_text(json.dumps(ui_fixture()))
    with pytest.raises(WorkflowError, match="--server URL"):
        import_workflow(source, knowledge=None, dest=tmp_path / "wf")


def test_an_import_may_not_shadow_a_shipped_workflow(tmp_path):
    source = tmp_path / "pbr_from_image.json"
    source.write_text(json.dumps(api_fixture()))
    with pytest.raises(WorkflowError, match="choose another with --name"):
        import_workflow(source, knowledge=None, reserved={"pbr_from_image"}, dest=tmp_path)


def test_the_import_can_add_a_webhook_node_fed_by_the_saved_images(tmp_path):
    source = tmp_path / "sd.json"
    source.write_text(json.dumps(api_fixture()))
    result = import_workflow(source, knowledge=None, add_webhook=True, dest=tmp_path / "wf")
    graph = json.loads(result.path.read_text())
    manifest = json.loads(result.manifest_path.read_text())
    hook = manifest["outputs"]["webhook_node"]
    assert graph[hook]["class_type"] == "AutomataWebhook"
    assert graph[hook]["inputs"]["base_color"] == copy.deepcopy(graph["9"]["inputs"]["images"])
    assert {"webhook_url", "generation_id"} <= set(manifest["parameters"])
