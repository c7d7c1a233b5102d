"""What a ComfyUI server says about itself when the app connects: its node classes, the model
files its loaders list, its feature flags and whether it has the Jobs API, asked once."""

from __future__ import annotations

import asyncio
import json
import textwrap
from pathlib import Path

import pytest

from automata_desktop import services
from automata_desktop.backends.comfyui import ComfyBackend
from automata_desktop.cli import main
from automata_desktop.comfy.client import ComfyClient
from automata_desktop.errors import MissingNodes

DEAD = "http://127.0.0.1:9"

# A node pack whose loader lists the model files beside it, as ComfyUI-GGUF's loaders do.
LOADER_PACK = textwrap.dedent("""
    import os

    MODELS = os.path.join(os.path.dirname(__file__), "models")


    class TestUnetLoader:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"unet_name": (sorted(os.listdir(MODELS)),),
                                 "strength": ("FLOAT", {"default": 1.0})}}

        RETURN_TYPES = ("MODEL",)
        FUNCTION = "load"
        CATEGORY = "loaders"

        def load(self, unet_name, strength):
            raise RuntimeError("no weights here")


    NODE_CLASS_MAPPINGS = {"TestUnetLoader": TestUnetLoader}
""")


def loader_pack(root: Path, *models: str) -> Path:
    pack = root / "test_loader_pack"
    (pack / "models").mkdir(parents=True)
    (pack / "__init__.py").write_text(LOADER_PACK)
    for name in models:
        (pack / "models" / name).write_bytes(b"weights")
    return pack


def object_info_requests(comfy) -> list[dict]:
    return [r for r in comfy.requests()["requests"]
            if r["method"] == "GET" and r["path"] in ("/object_info", "/api/object_info")]


async def test_connect_lists_the_servers_node_classes_and_model_files(fake_comfy_factory,
                                                                       tmp_path):
    pack = loader_pack(tmp_path / "packs", "flux-q4.gguf", "flux-q8.gguf")
    comfy = fake_comfy_factory(custom_nodes=[pack])
    backend = ComfyBackend(ComfyClient(comfy.url))
    try:
        caps = await backend.connect()
    finally:
        await backend.close()
    assert {"SaveImage", "KSampler", "AutomataWebhook", "TestUnetLoader"} <= caps.node_classes
    assert caps.models["TestUnetLoader.unet_name"] == ("flux-q4.gguf", "flux-q8.gguf")
    assert caps.models["CheckpointLoaderSimple.ckpt_name"] == ()  # the recorded server has none
    assert not any(key.endswith(".strength") for key in caps.models)
    assert caps.version == "0.3.64" and caps.same_machine


@pytest.mark.parametrize(("version", "jobs_api", "flags"), [
    ("0.3.64", False, {"supports_preview_metadata"}),
    ("0.46.0", True, {"supports_preview_metadata", "supports_model_type_tags",
                      "node_replacements"}),
])
async def test_the_jobs_api_and_feature_flags_are_what_the_server_has(
        fake_comfy_factory, version, jobs_api, flags):
    comfy = fake_comfy_factory(version=version)
    backend = ComfyBackend(ComfyClient(comfy.url))
    try:
        caps = await backend.connect()
    finally:
        await backend.close()
    assert caps.jobs_api is jobs_api
    assert caps.features == flags  # "assets": False and max_upload_size are not flags that are on


async def test_require_answers_from_what_connect_read(fake_comfy):
    backend = ComfyBackend(ComfyClient(fake_comfy.url))
    try:
        await backend.connect()
        assert len(object_info_requests(fake_comfy)) == 1  # read once, while connecting
        for _ in range(3):
            await backend.require(["SaveImage", "AutomataPBRFromImage"], {})
        assert len(object_info_requests(fake_comfy)) == 1
        with pytest.raises(MissingNodes) as caught:
            await backend.require(["SaveImage", "Hy3DPaint"], {"Hy3DPaint": "Hunyuan3DWrapper"})
    finally:
        await backend.close()
    assert caught.value.missing == {"Hy3DPaint": "Hunyuan3DWrapper"}
    assert len(object_info_requests(fake_comfy)) == 2  # a miss asks again: a pack may be new


def test_generate_fetches_object_info_once(fake_comfy, monkeypatch, capsys):
    """The configured ComfyUI is checked for a local workflow's nodes before it runs there;
    that check and the submit share one connection and one /object_info."""
    monkeypatch.setenv("AUTOMATA_SERVER", fake_comfy.url)
    code = main(["generate", "-w", "pbr_from_image", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    [gen] = json.loads(out)
    assert gen["server"] == fake_comfy.url and gen["status"] == "completed"
    assert len(object_info_requests(fake_comfy)) == 1


def test_the_gui_and_doctor_say_the_same_about_an_unreachable_server(capsys):
    status = asyncio.run(services.server_status(DEAD))
    readiness = asyncio.run(services.workflow_readiness(DEAD, _template("pbr_from_image")))
    assert main(["doctor", "--server", DEAD, "--json"]) == 3
    report = json.loads(capsys.readouterr().out)
    assert not report["server"]["reachable"]
    assert report["server"]["message"] == status.message == readiness.message
    assert "127.0.0.1:9" in status.message and "not reachable" in status.message


def test_doctor_says_whether_the_server_has_the_jobs_api(fake_comfy_factory, capsys):
    newer = fake_comfy_factory(version="0.46.0")
    assert main(["doctor", "--server", newer.url, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)["server"]
    assert report["jobs_api"] is True and "supports_model_type_tags" in report["features"]
    assert main(["doctor", "--server", newer.url]) == 0
    assert "Jobs API yes" in capsys.readouterr().out


def _template(name: str):
    from automata_desktop.runtime import all_workflows

    return all_workflows()[name]
