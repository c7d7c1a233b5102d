"""What the panel is told about servers and workflows (real HTTP against a closed port)."""

from __future__ import annotations

import asyncio

from automata_desktop import services
from automata_desktop.config import LOCAL_SERVER
from automata_desktop.runtime import all_workflows

DEAD = "http://127.0.0.1:9"


def test_an_unreachable_server_is_reported_not_raised():
    status = asyncio.run(services.server_status(DEAD))
    assert not status.reachable and "127.0.0.1:9" in status.message
    assert status.label == "not reachable"


def test_the_local_backend_runs_model_free_workflows_only():
    flows = all_workflows()
    ok = asyncio.run(services.workflow_readiness(LOCAL_SERVER, flows["pbr_from_image"]))
    refused = asyncio.run(services.workflow_readiness(LOCAL_SERVER, flows["hunyuan3d2_paint"]))
    assert ok.ok
    assert not refused.ok and "needs a ComfyUI server with models" in refused.message


def test_missing_nodes_are_grouped_by_the_pack_to_install():
    text = services.missing_nodes_text({"Hy3DLoadMesh": "ComfyUI-Hunyuan3DWrapper",
                                        "Hy3DExportMesh": "ComfyUI-Hunyuan3DWrapper",
                                        "Mystery": None})
    assert "Hy3DLoadMesh, Hy3DExportMesh — install ComfyUI-Hunyuan3DWrapper" in text
    assert "Mystery — install an unknown node pack" in text


def test_a_loopback_webhook_is_flagged_for_a_remote_server_only():
    hook = "http://127.0.0.1:8199/hooks/comfyui"
    assert "only reachable from this computer" in services.webhook_warning("http://10.0.0.5:8188", hook)
    assert services.webhook_warning("http://127.0.0.1:8188", hook) == ""
    assert services.webhook_warning("http://10.0.0.5:8188", "https://hooks.example.com/x") == ""


def test_a_server_without_the_checkpoint_is_not_ready_and_names_the_model(fake_comfy):
    """The SDXL workflow on a ComfyUI with every node but no checkpoint: said before queuing,
    with the folder to put the file in, not ComfyUI's raw "Value not in list" after it."""
    sdxl = all_workflows()["text_to_texture_sdxl"]
    readiness = asyncio.run(services.workflow_readiness(fake_comfy.url, sdxl))
    assert not readiness.ok and readiness.missing == {}
    assert [(m.filename, m.folder) for m in readiness.models] == [
        ("sd_xl_base_1.0.safetensors", "checkpoints")]
    assert "sd_xl_base_1.0.safetensors (put it in ComfyUI/models/checkpoints/)" in readiness.message


def test_missing_nodes_name_the_pack_the_servers_manager_knows(fake_comfy_factory):
    from pathlib import Path

    manager = Path(__file__).resolve().parents[1] / "fixtures" / "comfy_packs" / "ComfyUI-Manager"
    comfy = fake_comfy_factory(custom_nodes=[manager])
    paint = all_workflows()["hunyuan3d2_paint"]
    readiness = asyncio.run(services.workflow_readiness(comfy.url, paint))
    assert not readiness.ok
    assert readiness.missing["Hy3DLoadMesh"] == (
        "ComfyUI-Hunyuan3DWrapper (https://github.com/kijai/ComfyUI-Hunyuan3DWrapper)")
    assert readiness.missing["TransparentBGSession+"].startswith("ComfyUI_essentials")
