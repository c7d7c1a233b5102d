"""The node pack loads the way ComfyUI loads it and its map nodes work on IMAGE batches."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest

import comfy_nodes
from comfy_nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

PACK = Path(comfy_nodes.__file__).resolve().parent


def test_comfyui_can_load_the_pack_without_any_app_dependency(tmp_path):
    """ComfyUI imports custom_nodes/<folder>/__init__.py as a package under its folder name."""
    script = textwrap.dedent(
        f"""
        import importlib.util, sys
        BLOCKED = {{"automata_desktop", "PySide6", "vtk", "pyvista", "supabase", "pydantic",
                    "httpx", "scipy", "torch", "comfy_nodes"}}
        class Blocker:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    raise ImportError(f"{{name}} is not available inside ComfyUI")
        sys.meta_path.insert(0, Blocker())
        spec = importlib.util.spec_from_file_location(
            "automata_nodes", {str(PACK / "__init__.py")!r},
            submodule_search_locations=[{str(PACK)!r}])
        module = importlib.util.module_from_spec(spec)
        sys.modules["automata_nodes"] = module
        spec.loader.exec_module(module)
        print(sorted(module.NODE_CLASS_MAPPINGS), module.__version__)
        """
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", script], capture_output=True, text=True, cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "AutomataWebhook" in done.stdout and comfy_nodes.__version__ in done.stdout


def test_every_node_is_a_well_formed_v1_node_in_the_automata_category():
    assert set(NODE_CLASS_MAPPINGS) == set(NODE_DISPLAY_NAME_MAPPINGS)
    for name, cls in NODE_CLASS_MAPPINGS.items():
        spec = cls.INPUT_TYPES()
        assert set(spec) <= {"required", "optional", "hidden"}, name
        assert cls.CATEGORY == "AUTOMATA"
        assert callable(getattr(cls(), cls.FUNCTION))
        assert len(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES)) == len(cls.RETURN_TYPES)
        assert NODE_DISPLAY_NAME_MAPPINGS[name].startswith("AUTOMATA ")
    assert NODE_CLASS_MAPPINGS["AutomataWebhook"].OUTPUT_NODE is True


def test_registry_metadata_matches_the_code():
    meta = tomllib.loads((PACK / "pyproject.toml").read_text())
    assert meta["project"]["version"] == comfy_nodes.__version__
    assert {"PublisherId", "DisplayName"} <= set(meta["tool"]["comfy"])
    assert (PACK / "requirements.txt").read_text().count("torch") == 0
    assert (PACK / "README.md").is_file()


def _controls() -> dict:
    spec = NODE_CLASS_MAPPINGS["AutomataPBRFromImage"].INPUT_TYPES()["required"]
    return {k: v[1]["default"] for k, v in spec.items() if k != "image"}


def test_pbr_from_image_turns_a_batch_into_six_3_channel_batches():
    batch = np.random.default_rng(0).random((2, 16, 20, 3)).astype(np.float32)
    outputs = NODE_CLASS_MAPPINGS["AutomataPBRFromImage"]().derive(batch, **_controls())
    assert len(outputs) == 6
    for out in outputs:
        assert isinstance(out, np.ndarray) and out.shape == (2, 16, 20, 3)
        assert out.dtype == np.float32
    np.testing.assert_allclose(outputs[0], batch)


def test_directx_choice_flips_green_in_the_node():
    batch = np.random.default_rng(1).random((1, 16, 16, 3)).astype(np.float32)
    node = NODE_CLASS_MAPPINGS["AutomataPBRFromImage"]()
    gl = node.derive(batch, **_controls())[1]
    dx = node.derive(batch, **{**_controls(), "normal_convention": "DirectX"})[1]
    np.testing.assert_allclose(gl[..., 1], 1.0 - dx[..., 1], atol=1e-6)


class FakeTensor:
    """Quacks like a CPU torch tensor (torch itself is not installed here)."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def detach(self) -> FakeTensor:
        return self

    def cpu(self) -> FakeTensor:
        return self

    def float(self) -> FakeTensor:
        return self

    def numpy(self) -> np.ndarray:
        return self.array


def test_tensor_like_inputs_are_accepted():
    height = np.tile(np.linspace(0, 1, 32, dtype=np.float32), (32, 1))[None, :, :, None]
    (normal,) = NODE_CLASS_MAPPINGS["AutomataNormalFromHeight"]().convert(
        FakeTensor(np.repeat(height, 3, axis=3)), 8.0, "OpenGL", False, False
    )
    assert normal.shape == (1, 32, 32, 3)
    assert normal[0, 16, 16, 0] < 0.5  # rising to the right leans left


def test_pack_orm_then_split_channels_gives_the_maps_back():
    rng = np.random.default_rng(4)
    ao, rough, metal = (np.repeat(rng.random((1, 8, 8, 1)), 3, axis=3).astype(np.float32)
                        for _ in range(3))
    (orm,) = NODE_CLASS_MAPPINGS["AutomataPackORM"]().pack(rough, ao=ao, metallic=metal)
    red, green, blue, alpha = NODE_CLASS_MAPPINGS["AutomataSplitChannels"]().split(orm)
    np.testing.assert_allclose(red, ao, atol=1e-6)
    np.testing.assert_allclose(green, rough, atol=1e-6)
    np.testing.assert_allclose(blue, metal, atol=1e-6)
    np.testing.assert_allclose(alpha, 1.0)


def test_pack_orm_refuses_maps_of_different_sizes():
    with pytest.raises(ValueError, match="same size"):
        NODE_CLASS_MAPPINGS["AutomataPackORM"]().pack(
            np.zeros((1, 8, 8, 3), np.float32), ao=np.zeros((1, 4, 4, 3), np.float32)
        )


def test_the_app_uses_the_same_math_as_the_nodes():
    from automata_desktop.core import pbr

    assert pbr.derive_pbr is comfy_nodes.pbr_math.derive_pbr
