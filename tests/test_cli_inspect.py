"""`automata inspect FILE [--json]` as a pipeline script and a bug report see it."""

from __future__ import annotations

import json

import pytest

from automata_desktop.cli import main
from tests.fixtures import assets


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_helmet_reports_its_five_embedded_maps_with_sizes_and_texcoords(capsys, tmp_path):
    helmet = assets.damaged_helmet(tmp_path)

    code, out, err = run(capsys, "inspect", str(helmet.path), "--json")

    assert code == 0, err
    report = json.loads(out)
    assert report["up_axis"] == "Y"
    assert report["triangles"] == helmet.facts["triangles"]
    assert report["uv_sets"] == ["TEXCOORD_0", "TEXCOORD_1"]
    [material] = report["materials"]
    assert material["name"] == "Material_MR"
    assert set(material["maps"]) == {"base_color", "metallic_roughness", "normal", "ao", "emissive"}
    for kind, (width, height) in helmet.facts["maps"].items():
        assert material["maps"][kind]["width"] == width and material["maps"][kind]["height"] == height
        assert material["maps"][kind]["source"] == "embedded"
    assert material["maps"]["emissive"]["texcoord"] == 1  # KHR_texture_transform's texCoord
    assert material["factors"]["emissiveStrength"] == 4.0
    assert material["factors"]["normalScale"] == pytest.approx(0.8)
    assert "KHR_texture_transform" in report["extensions"]["used"]


def test_the_truck_reports_world_bounds_objects_and_the_generated_uvs(capsys, tmp_path):
    truck = assets.milk_truck(tmp_path)

    code, out, _ = run(capsys, "inspect", str(truck.path), "--json")

    assert code == 0
    report = json.loads(out)
    assert report["bounds"][0] == pytest.approx(truck.facts["bounds_min"], abs=0.01)
    assert report["bounds"][1] == pytest.approx(truck.facts["bounds_max"], abs=0.01)
    assert report["triangles"] == truck.facts["triangles"]
    assert [o["name"] for o in report["objects"]] == ["Cesium_Milk_Truck", "Wheels", "Wheels"]
    assert [m["name"] for m in report["materials"]] == ["truck", "glass", "window_trim", "wheels"]
    base = report["materials"][0]["maps"]["base_color"]
    assert (base["width"], base["height"], base["source"], base["file"]) == (
        64, 32, "external", "Cesium Milk Truck.png")
    assert report["materials"][1]["maps"] == {}
    assert report["materials"][1]["factors"]["baseColorFactor"] == pytest.approx(
        [0.0, 0.0405, 0.0212, 1.0])
    [notice] = [n for n in report["notices"] if "no UVs" in n]
    assert "glass" in notice and "window_trim" in notice and '"truck"' not in notice


def test_a_z_up_stl_says_so_and_the_override_is_honoured(capsys, tmp_path):
    part = assets.tall_stl(tmp_path)

    assert json.loads(run(capsys, "inspect", str(part.path), "--json")[1])["up_axis"] == "Z"
    assert json.loads(run(capsys, "inspect", str(part.path), "--json", "--up-axis", "Y")[1])[
        "up_axis"] == "Y"


def test_the_text_report_names_materials_maps_and_notices(capsys, tmp_path):
    crate = assets.blender_obj(tmp_path)

    code, out, _ = run(capsys, "inspect", str(crate.path))

    assert code == 0
    assert "up axis     Y" in out
    assert "Wood" in out and "Painted Metal" in out
    assert "wood planks diffuse.png" in out and "opacity" in out


@pytest.mark.parametrize("make", [assets.lfs_pointer, assets.html_page, assets.empty])
def test_an_unreadable_file_exits_3_with_one_line(capsys, tmp_path, make):
    path = make(tmp_path)

    code, out, err = run(capsys, "inspect", str(path), "--json")

    assert code == 3 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: Cannot open ")
    assert "Traceback" not in err


def test_a_truncated_glb_exits_3_saying_it_is_truncated(capsys, tmp_path):
    cut = assets.truncated(assets.damaged_helmet(tmp_path).path)

    code, _, err = run(capsys, "inspect", str(cut))

    assert code == 3 and "truncated" in err and err.count("\n") == 1
