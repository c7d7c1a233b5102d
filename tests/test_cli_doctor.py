"""`automata doctor` against a running ComfyUI: version, node pack, what each workflow lacks."""

import json

from automata_desktop.cli import main


def test_doctor_reports_the_server_the_pack_and_each_workflow(capsys, fake_comfy):
    code = main(["doctor", "--server", fake_comfy.url, "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    server = report["server"]
    assert server["reachable"] and server["version"] == "0.3.64"
    assert server["node_pack"] == "0.1.0"
    assert server["workflows"]["pbr_from_image"] == {"runnable": True, "missing_nodes": []}
    hunyuan = server["workflows"]["hunyuan3d2_paint"]
    assert not hunyuan["runnable"] and any(n.startswith("Hy3D") for n in hunyuan["missing_nodes"])
    assert report["webhook"]["ok"]


def test_doctor_text_names_the_pack_to_install(capsys, fake_comfy):
    assert main(["doctor", "--server", fake_comfy.url]) == 0
    out = capsys.readouterr().out
    assert "ComfyUI 0.3.64" in out and "AUTOMATA nodes 0.1.0 installed" in out
    assert "hunyuan3d2_paint" in out and "cannot run: missing" in out and "Hunyuan3DWrapper" in out


def test_install_nodes_into_a_comfyui_folder_is_idempotent(capsys, tmp_path):
    comfyui = tmp_path / "ComfyUI"
    (comfyui / "custom_nodes").mkdir(parents=True)
    (comfyui / "main.py").write_text("# ComfyUI\n")
    (comfyui / "comfy").mkdir()
    assert main(["comfy", "install-nodes", "--comfyui", str(comfyui)]) == 0
    first = capsys.readouterr().out
    assert main(["comfy", "install-nodes", "--comfyui", str(comfyui)]) == 0
    second = capsys.readouterr().out
    installed = sorted(p.name for p in (comfyui / "custom_nodes").iterdir())
    assert installed == ["automata_nodes", "automata_webhook.key"]  # one pack, no staging left
    assert (comfyui / "custom_nodes" / "automata_nodes" / "__init__.py").is_file()
    assert "webhook signing key" in first
    assert first.startswith("Installed AUTOMATA nodes 0.1.0") and "already installed" in second.lower()


def test_install_nodes_without_a_comfyui_says_where_it_looked(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COMFYUI_PATH", raising=False)
    assert main(["comfy", "install-nodes"]) == 3
    assert "--comfyui" in capsys.readouterr().err


def test_generate_against_comfyui_shows_progress_and_stores_the_maps(capsys, fake_comfy):
    code = main(["generate", "--server", fake_comfy.url, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    [gen] = json.loads(captured.out)
    assert gen["server"] == fake_comfy.url and gen["status"] == "completed"
    assert {f["kind"] for f in gen["files"]} == {"base_color", "normal", "height", "roughness",
                                                   "metallic", "ao", "orm"}
    assert "AutomataPBRFromImage (#2)" in captured.err  # the node that was running
    assert "100% completed" in captured.err
