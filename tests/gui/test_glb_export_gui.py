"""The GUI's two ways out to a textured model: File → Export scene as GLB (the open scene with
the shown maps) and Library → Export → Textured model (GLB). Both write a file the Khronos
validator passes that opens in the app with the same material."""

from __future__ import annotations

import numpy as np
import pytest

from automata_desktop.core.scene_io import load_scene
from automata_desktop.core.texture_set import load_image
from automata_desktop.paths import resources_dir
from tests.gltf_validator import assert_valid
from tests.gui.test_library_and_inspector import generate_locally
from tests.gui.workbench_helpers import open_workbench, wait_for

pytestmark = pytest.mark.gui
SAMPLES = resources_dir() / "samples"


@pytest.fixture(scope="module")
def bench(qapp, tmp_path_factory):
    bench = open_workbench(qapp, tmp_path_factory.mktemp("glb") / "library", with_maps=True)
    wait_for(qapp, lambda: bench.window.texture_set is not None and not bench.window.busy, 60,
             "the sample maps")
    yield bench
    bench.window.close()


def menu_texts(menu) -> list[str]:
    return [a.text() for a in menu.actions()]


def test_file_export_scene_as_glb_writes_the_open_scene_with_the_shown_maps(qapp, bench,
                                                                           tmp_path) -> None:
    window = bench.window
    file_menu = window.menuBar().actions()[0].menu()
    assert "&Export scene as GLB…" in menu_texts(file_menu)
    results = []
    window.scene_exported.connect(results.append)

    window.export_scene_glb(tmp_path / "sample")  # the .glb suffix is added

    wait_for(qapp, lambda: results, 60, "the export")
    glb = results[0].paths[0]
    assert glb == tmp_path / "sample.glb"
    assert_valid(glb)
    material = load_scene(glb).materials[0]
    assert np.array_equal(material.base_color_texture.image.decode(),
                          load_image(SAMPLES / "sample_basecolor.png"))
    assert np.array_equal(material.normal_texture.image.decode(),
                          load_image(SAMPLES / "sample_normal.png"))
    orm = material.metallic_roughness_texture.image.decode()
    assert np.array_equal(orm[..., 1], load_image(SAMPLES / "sample_roughness.png"))
    assert np.array_equal(orm[..., 2], load_image(SAMPLES / "sample_metallic.png"))
    height = results[0].paths[1]
    assert np.array_equal(load_image(height), load_image(SAMPLES / "sample_height.png"))


def test_library_export_textured_model_writes_a_glb_of_the_generation(qapp, bench,
                                                                      tmp_path) -> None:
    browser = bench.library
    assert menu_texts(browser.export_button.menu()) == ["Maps…", "Textured model (GLB)…"]
    gen_id = generate_locally(qapp, bench)
    wait_for(qapp, lambda: any(g.id == gen_id and g.files for g in browser.generations), 20,
             "the library row")
    results, messages = [], []
    browser.exported.connect(results.append)
    browser.message.connect(messages.append)

    browser.export_glb(gen_id, tmp_path / "out", "godot")

    wait_for(qapp, lambda: results or messages, 60, "the export")
    assert results, messages
    glb = results[0].paths[0]
    assert_valid(glb)
    gen = bench.controller.runtime.library.get(gen_id)
    base = next(f.path for f in reversed(gen.files) if f.kind.value == "base_color")
    assert np.array_equal(load_scene(glb).materials[0].base_color_texture.image.decode(),
                          load_image(base))
    assert any("sample cube" in m for m in messages)  # a material made without a mesh


def test_exporting_with_no_mesh_open_says_what_to_do(qapp, tmp_path) -> None:
    from automata_desktop.ui.main_window import MainWindow

    window = MainWindow(interactive=False)
    errors = []
    window.failed.connect(errors.append)
    window.export_scene_glb(tmp_path / "x.glb")
    window.close()
    assert errors and "open a mesh first" in errors[0]
    assert not (tmp_path / "x.glb").exists()
