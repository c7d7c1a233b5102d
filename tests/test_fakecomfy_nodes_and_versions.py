"""Custom node packs load and run as in ComfyUI; ``--version 0.46.0`` shows the newer protocol."""

from __future__ import annotations

import asyncio
import textwrap
import time
import uuid
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.fakecomfy import FakeComfy
from tests.fakecomfy.recorder import Recorder

PACK_INIT = "from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS\n"
PACK_NODES = textwrap.dedent("""
    import os

    import comfy.utils
    import folder_paths
    from PIL import Image
    from server import PromptServer


    class Tint:
        DESCRIPTION = "Scales an IMAGE."

        @classmethod
        def INPUT_TYPES(cls):
            return {
                "required": {"images": ("IMAGE",),
                             "amount": ("FLOAT", {"default": 0.5, "min": 0.0, "max": 1.0})},
                "optional": {"label": ("STRING", {"default": ""})},
                "hidden": {"unique_id": "UNIQUE_ID", "prompt": "PROMPT",
                           "extra_pnginfo": "EXTRA_PNGINFO"},
            }

        RETURN_TYPES = ("IMAGE",)
        FUNCTION = "run"
        CATEGORY = "test"

        def run(self, images, amount, label="", unique_id=None, prompt=None, extra_pnginfo=None):
            bar = comfy.utils.ProgressBar(2)
            bar.update(1)
            bar.update(1)
            server = PromptServer.instance
            server.send_sync("my_pack.note", {
                "node": unique_id, "label": label, "prompt_keys": sorted(prompt),
                "pnginfo": extra_pnginfo, "prompt_id": server.last_prompt_id,
            }, server.client_id)
            return (images * amount,)


    class SavePlain:
        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"images": ("IMAGE",), "prefix": ("STRING", {"default": "x"})}}

        RETURN_TYPES = ()
        FUNCTION = "save"
        OUTPUT_NODE = True

        def save(self, images, prefix):
            folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(
                prefix, folder_paths.get_output_directory(), images.shape[2], images.shape[1])
            file = f"{name}_{counter:05}_.png"
            pixels = (images[0] * 255).round().astype("uint8")
            Image.fromarray(pixels).save(os.path.join(folder, file))
            return {"ui": {"images": [{"filename": file, "subfolder": subfolder,
                                       "type": "output"}]}}


    NODE_CLASS_MAPPINGS = {"Tint": Tint, "SavePlain": SavePlain}
    NODE_DISPLAY_NAME_MAPPINGS = {"Tint": "Tint image"}
""")


def make_pack(root: Path) -> Path:
    pack = root / "my_pack"
    pack.mkdir(parents=True)
    (pack / "__init__.py").write_text(PACK_INIT)
    (pack / "nodes.py").write_text(PACK_NODES)
    broken = root / "broken_pack"
    broken.mkdir()
    (broken / "__init__.py").write_text("import torch  # not installed here\n")
    return root


def graph(color: int = 0xFF8000) -> dict:
    return {
        "1": {
            "class_type": "EmptyImage",
            "inputs": {"width": 6, "height": 4, "batch_size": 1, "color": color},
        },
        "2": {"class_type": "Tint", "inputs": {"images": ["1", 0], "amount": 0.5, "label": "half"}},
        "3": {"class_type": "SavePlain", "inputs": {"images": ["2", 0], "prefix": "pack/tint"}},
    }


async def test_a_custom_node_pack_loads_and_runs_like_in_comfyui(tmp_path):
    packs = make_pack(tmp_path / "custom_nodes")
    with FakeComfy(tmp_path / "root", custom_nodes=[packs]) as comfy:
        state = comfy.control("state")
        loaded = {Path(r["path"]).name: r for r in state["custom_nodes"]}
        assert loaded["my_pack"]["loaded"] and loaded["my_pack"]["nodes"] == ["Tint", "SavePlain"]
        assert not loaded["broken_pack"]["loaded"]
        assert "torch" in loaded["broken_pack"]["error"]

        client_id = uuid.uuid4().hex
        owner = await Recorder.open(comfy.ws_url, client_id)
        async with httpx.AsyncClient(base_url=comfy.url) as client:
            info = (await client.get("/object_info/Tint")).json()["Tint"]
            assert info["python_module"] == "custom_nodes.my_pack"
            assert info["display_name"] == "Tint image"
            assert info["input_order"] == {
                "required": ["images", "amount"],
                "optional": ["label"],
                "hidden": ["unique_id", "prompt", "extra_pnginfo"],
            }
            rejected = await client.post(
                "/prompt",
                json={
                    "prompt": {
                        **graph(),
                        "2": {"class_type": "Tint", "inputs": {"images": ["1", 0], "amount": 2.0}},
                    }
                },
            )
            assert rejected.json()["node_errors"]["2"]["errors"][0]["type"] == ("value_bigger_than_max")

            body = {
                "prompt": graph(),
                "client_id": client_id,
                "extra_data": {"extra_pnginfo": {"workflow": {"note": "hi"}}},
            }
            prompt_id = (await client.post("/prompt", json=body)).json()["prompt_id"]
            await owner.wait_done(prompt_id)

        note = owner.texts("my_pack.note")[0]["data"]
        assert note == {
            "node": "2",
            "label": "half",
            "prompt_keys": ["1", "2", "3"],
            "pnginfo": {"workflow": {"note": "hi"}},
            "prompt_id": prompt_id,
        }
        assert [(m["data"]["node"], m["data"]["value"]) for m in owner.texts("progress")] == [
            ("2", 1),
            ("2", 2),
        ]
        saved = owner.texts("executed")[0]["data"]["output"]["images"][0]
        assert saved == {"filename": "tint_00001_.png", "subfolder": "pack", "type": "output"}
        pixel = Image.open(comfy.output_dir / "pack" / "tint_00001_.png").getpixel((0, 0))
        assert pixel == (128, 64, 0)
        await owner.close()


async def test_the_newer_server_validates_prompt_ids_and_gates_previews(tmp_path):
    with FakeComfy(tmp_path, version="0.46.0") as comfy:
        client_id = uuid.uuid4().hex
        owner = await Recorder.open(comfy.ws_url, client_id)
        slow = {
            "1": {
                "class_type": "EmptyImage",
                "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 1},
            },
            "2": {
                "class_type": "ProbeSlowProgress",
                "inputs": {"images": ["1", 0], "steps": 2, "delay_s": 0.0, "send_preview": True},
            },
            "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "new"}},
        }
        async with httpx.AsyncClient(base_url=comfy.url) as client:
            stats = (await client.get("/system_stats")).json()
            assert stats["system"]["comfyui_version"] == "0.46.0"
            for bad in ("my-own-prompt-id-1", str(uuid.uuid4()).upper()):
                refused = await client.post("/prompt", json={"prompt": slow, "prompt_id": bad})
                assert refused.status_code == 400
                assert refused.json()["error"]["type"] == "invalid_prompt_id"

            chosen = str(uuid.uuid4())
            ok = await client.post(
                "/prompt", json={"prompt": slow, "prompt_id": chosen, "client_id": client_id}
            )
            assert ok.json()["prompt_id"] == chosen
            await owner.wait_done(chosen)
            assert not any(f.is_binary for f in owner.frames)  # preview_method defaults to none

            start = len(owner.frames)
            asked = await client.post(
                "/prompt",
                json={"prompt": slow, "client_id": client_id, "extra_data": {"preview_method": "auto"}},
            )
            await owner.wait_done(asked.json()["prompt_id"])
            assert "BINARY1" in owner.types(start)
            history = (await client.get(f"/history/{chosen}")).json()[chosen]

        assert "assets.seed.started" in owner.types()  # unknown types clients must ignore
        image = owner.texts("executed")[0]["data"]["output"]["images"][0]
        assert image["metadata"] == {"kind": "image", "width": 8, "height": 8}
        assert history["outputs"]["3"]["images"][0]["metadata"]["kind"] == "image"
        assert isinstance(history["prompt"][3]["create_time"], int)
        await owner.close()


@pytest.mark.parametrize("version", ["0.3.64", "0.46.0"])
async def test_config_pauses_the_worker_and_slows_nodes(tmp_path, version):
    with FakeComfy(tmp_path, version=version) as comfy:
        assert comfy.control("config", {"paused": True, "node_delay_s": 0.2})["paused"] is True
        async with httpx.AsyncClient(base_url=comfy.url) as client:
            body = {"prompt": graph_without_pack()}
            prompt_id = (await client.post("/prompt", json=body)).json()["prompt_id"]
            assert comfy.control("state")["queue_pending"] == [prompt_id]
            comfy.control("config", {"paused": False})
            started = time.monotonic()
            while not (await client.get(f"/history/{prompt_id}")).json():
                await asyncio.sleep(0.01)  # pytest-timeout ends this if the worker never resumes
            assert time.monotonic() - started >= 0.4  # two nodes, 0.2 s each: a floor, not a bound
        with pytest.raises(Exception, match="unknown keys"):
            comfy.control("config", {"bogus": 1})


def graph_without_pack() -> dict:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 7}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "paused"}},
    }
