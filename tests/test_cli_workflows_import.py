"""`automata workflows import` against a running ComfyUI (the test server, with ComfyUI-Manager's
mapping route), then the imported workflow listed, bound, dry-run and run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from automata_desktop.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
MANAGER = FIXTURES / "comfy_packs" / "ComfyUI-Manager"
SHIPPED = Path(__file__).resolve().parents[1] / "resources" / "workflows"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def comfy_with_manager(fake_comfy_factory):
    return fake_comfy_factory(custom_nodes=[MANAGER])


def solid_colour_ui() -> dict:
    """A UI graph the test server can run: EmptyImage (its width from a PrimitiveNode) -> a
    reroute -> SaveImage, plus a note."""
    return {
        "last_node_id": 5, "last_link_id": 3, "version": 0.4, "groups": [], "config": {},
        "extra": {},
        "nodes": [
            {"id": 1, "type": "EmptyImage", "mode": 0,
             "inputs": [{"name": "width", "type": "INT", "widget": {"name": "width"}, "link": 3}],
             "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": [1]}],
             "widgets_values": [512, 48, 1, 0x8A5A2B]},
            {"id": 2, "type": "Reroute", "mode": 0, "inputs": [{"name": "", "type": "*", "link": 1}],
             "outputs": [{"name": "", "type": "IMAGE", "links": [2]}], "properties": {}},
            {"id": 3, "type": "SaveImage", "mode": 0,
             "inputs": [{"name": "images", "type": "IMAGE", "link": 2}], "outputs": [],
             "widgets_values": ["oak_basecolor"]},
            {"id": 4, "type": "PrimitiveNode", "mode": 0, "title": "Width",
             "outputs": [{"name": "INT", "type": "INT", "links": [3], "widget": {"name": "width"}}],
             "inputs": [], "widgets_values": [64, "fixed"]},
            {"id": 5, "type": "Note", "mode": 0, "inputs": [], "outputs": [],
             "widgets_values": ["a solid oak-brown swatch"]},
        ],
        "links": [[1, 1, 0, 2, 0, "IMAGE"], [2, 2, 0, 3, 0, "IMAGE"], [3, 4, 0, 1, 0, "INT"]],
    }


def test_a_ui_workflow_imports_against_comfyui_and_reports_what_it_lacks(capsys, tmp_path,
                                                                         comfy_with_manager):
    source = tmp_path / "txt2img.json"
    shutil.copy(FIXTURES / "workflows" / "txt2img_sd15.ui.json", source)
    code, out, err = run(capsys, "workflows", "import", str(source), "--name", "my_sd15",
                         "--server", comfy_with_manager.url, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["name"] == "my_sd15" and Path(report["path"]).is_file()
    assert report["parameters"]["prompt"] == {
        "role": "prompt", "type": "text", "bind": ["6.text"],
        "default": "mossy cobblestones, top-down, seamless", "choices": []}
    assert "euler" in report["parameters"]["sampler"]["choices"]
    assert report["outputs"][0]["kind"] == "base_color"
    assert report["missing_nodes"] == []
    assert report["missing_models"] == [{"node": "4", "input": "ckpt_name", "folder": "checkpoints",
                                         "filename": "v1-5-pruned-emaonly.safetensors"}]
    assert any("muted" in n for n in report["notices"])

    code, out, _ = run(capsys, "workflows", "--json")
    assert "my_sd15" in json.loads(out) and "prompt" in json.loads(out)["my_sd15"]["parameters"]

    code, out, err = run(capsys, "generate", "-w", "my_sd15", "--prompt", "rusty plates",
                         "--seed", "42", "--set", "3.steps=12", "--dry-run", "--json")
    assert code == 0, err
    prompt = json.loads(out)["prompt"]
    assert prompt["6"]["inputs"]["text"] == "rusty plates"
    assert prompt["3"]["inputs"]["seed"] == 42 and prompt["3"]["inputs"]["steps"] == 12


def test_missing_nodes_name_the_pack_from_the_servers_manager(capsys, tmp_path, comfy_with_manager):
    code, out, err = run(capsys, "workflows", "import", str(SHIPPED / "hunyuan3d2_paint.json"),
                         "--name", "paint_copy", "--server", comfy_with_manager.url, "--json")
    assert code == 0, err
    missing = {m["class_type"]: m["pack"] for m in json.loads(out)["missing_nodes"]}
    assert "Hy3DPaint" not in missing and all(pack is not None for pack in missing.values())
    # the server's Manager names this one ...
    assert missing["Hy3DLoadMesh"] == {"title": "ComfyUI-Hunyuan3DWrapper",
                                       "url": "https://github.com/kijai/ComfyUI-Hunyuan3DWrapper"}
    # ... and the shipped manifests the ones its map does not list
    assert missing["TransparentBGSession+"]["title"] == "ComfyUI_essentials"
    assert "AutomataWebhook" not in missing  # the test server runs the AUTOMATA pack

    code, out, _ = run(capsys, "workflows", "import", str(SHIPPED / "hunyuan3d2_paint.json"),
                       "--name", "paint_copy", "--server", comfy_with_manager.url)
    assert "install ComfyUI-Hunyuan3DWrapper (https://github.com/kijai/" in out


def test_without_the_server_the_cached_definitions_serve(capsys, tmp_path, comfy_with_manager):
    source = tmp_path / "swatch.json"
    source.write_text(json.dumps(solid_colour_ui()))
    assert run(capsys, "workflows", "import", str(source), "--server", comfy_with_manager.url)[0] == 0
    comfy_with_manager.stop()
    code, out, err = run(capsys, "workflows", "import", str(source), "--name", "swatch_offline",
                         "--server", comfy_with_manager.url, "--json")
    assert code == 0, err
    assert any("cached copy" in n for n in json.loads(out)["notices"])
    assert "not reachable" in err


def test_a_ui_workflow_with_no_server_and_no_cache_says_how_to_convert_it(capsys, tmp_path):
    source = tmp_path / "swatch.json"
    source.write_text(json.dumps(solid_colour_ui()))
    code, _, err = run(capsys, "workflows", "import", str(source), "--server", "127.0.0.1:9")
    assert code == 3 and "Export (API)" in err and "--server URL" in err


def test_an_imported_ui_workflow_runs_on_comfyui(capsys, tmp_path, fake_comfy):
    source = tmp_path / "swatch.json"
    source.write_text(json.dumps(solid_colour_ui()))
    assert run(capsys, "workflows", "import", str(source), "--server", fake_comfy.url)[0] == 0
    code, out, err = run(capsys, "generate", "-w", "swatch", "--server", fake_comfy.url, "--json")
    assert code == 0, err
    [gen] = json.loads(out)
    assert gen["status"] == "completed" and gen["workflow"] == "swatch"
    [file] = gen["files"]
    assert file["kind"] == "base_color" and (file["width"], file["height"]) == (64, 48)


def test_an_output_named_only_by_its_node_title_lands_as_that_map(capsys, tmp_path, fake_comfy):
    ui = solid_colour_ui()
    save = next(n for n in ui["nodes"] if n["type"] == "SaveImage")
    save["title"], save["widgets_values"] = "Roughness", ["ComfyUI"]  # files: ComfyUI_00001_.png
    source = tmp_path / "rough.json"
    source.write_text(json.dumps(ui))
    assert run(capsys, "workflows", "import", str(source), "--server", fake_comfy.url)[0] == 0
    code, out, err = run(capsys, "generate", "-w", "rough", "--server", fake_comfy.url, "--json")
    assert code == 0, err
    [gen] = json.loads(out)
    assert [f["kind"] for f in gen["files"]] == ["roughness"]
