"""`automata` as a script sees it: exit codes, --json output, messages."""

from __future__ import annotations

import json

import pytest

from automata_desktop.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_generate_in_process_makes_a_full_pbr_set(capsys, tmp_path):
    code, out, err = run(capsys, "generate", "--workflow", "pbr_from_image", "--server", "local",
                         "--json")
    assert code == 0, err
    [gen] = json.loads(out)
    assert gen["status"] == "completed" and gen["server"] == "local"
    kinds = {f["kind"] for f in gen["files"]}
    assert {"base_color", "normal", "height", "roughness", "metallic", "ao", "orm"} <= kinds
    assert "100%" in err  # the progress bar reached the end


def test_generate_falls_back_to_in_process_when_no_comfyui_answers(capsys, monkeypatch):
    monkeypatch.setenv("AUTOMATA_SERVER", "127.0.0.1:9")
    code, _, err = run(capsys, "generate")
    assert code == 0, err
    assert "no ComfyUI at http://127.0.0.1:9; running pbr_from_image in-process" in err


def test_library_list_show_and_export(capsys, tmp_path):
    assert run(capsys, "generate", "--server", "local", "--json")[0] == 0
    code, out, _ = run(capsys, "library", "list", "--json")
    [gen] = json.loads(out)
    code, out, _ = run(capsys, "library", "show", gen["id"][:8])
    assert code == 0 and gen["id"] in out and "completed" in out
    code, out, _ = run(capsys, "library", "export", gen["id"][:8], str(tmp_path / "ue"),
                       "--preset", "unreal", "--json")
    names = sorted(p.rsplit("/", 1)[-1] for p in json.loads(out))
    assert code == 0 and any(n.startswith("T_") for n in names)
    assert all((tmp_path / "ue" / n).is_file() for n in names)


def test_unknown_generation_ids_and_bad_parameters_are_usage_errors(capsys):
    code, _, err = run(capsys, "library", "show", "ffffffff")
    assert code == 2 and "no generation 'ffffffff'" in err
    code, _, err = run(capsys, "generate", "--server", "local", "--set", "colour=red")
    assert code == 2 and "has no parameter colour" in err
    code, _, err = run(capsys, "generate", "--server", "local", "--set", "seamless")
    assert code == 2 and "PARAM=VALUE" in err


def test_model_workflows_say_they_need_a_comfyui_server(capsys):
    code, _, err = run(capsys, "generate", "-w", "text_to_texture_sdxl", "--prompt", "moss",
                       "--server", "local")
    assert code == 3 and "needs a ComfyUI server" in err


def test_an_unreachable_server_is_a_clear_error_with_a_hint(capsys):
    code, _, err = run(capsys, "generate", "-w", "text_to_texture_sdxl", "--prompt", "moss",
                       "--server", "127.0.0.1:9")
    assert code == 3
    assert "not reachable" in err and "--server local" in err
    assert "Traceback" not in err


def test_unknown_workflows_list_the_shipped_ones(capsys):
    code, _, err = run(capsys, "generate", "-w", "nope")
    assert code == 3 and "pbr_from_image" in err


def test_doctor_offline_reports_paths_and_workflows(capsys):
    code, out, _ = run(capsys, "doctor", "--offline", "--json")
    report = json.loads(out)
    assert code == 0
    assert {"pbr_from_image", "hunyuan3d2_paint", "text_to_texture_sdxl"} <= set(report["workflows"])


def test_doctor_names_an_unreachable_server(capsys):
    code, out, _ = run(capsys, "doctor", "--server", "127.0.0.1:9")
    assert code == 3 and "not reachable" in out


@pytest.mark.parametrize("argv", [["--version"], ["generate", "--help"]])
def test_help_and_version(capsys, argv):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip()
