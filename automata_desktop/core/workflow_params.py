"""Finding a foreign workflow's parameters by what its nodes do, not by what they are called.

An API graph says nothing about which text is the prompt: that is a CLIPTextEncode (or SDXL,
Flux, … encoder) whose conditioning reaches a sampler's `positive` input, possibly through
ControlNet, area or combine nodes. So prompts are found by following links upstream from every
sampler; seeds, steps, CFG and the like are sampler inputs by name; model files are the combo
inputs of loader nodes; images and meshes are the inputs of loaders of those. Each parameter is
written as a manifest entry (`type`, `bind`, `default`, `choices`, plus its `role`), the same
shape the shipped workflows' manifests use, so an imported workflow binds like a shipped one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from automata_desktop.core.maps import MapKind, infer_map_kind
from automata_desktop.core.ui_workflow import input_type, ordered_inputs

#: Inputs a sampler takes its conditioning on, and the polarity each carries.
_CONDITIONING_INPUTS = {"positive": "prompt", "negative": "negative_prompt",
                        "conditioning": "prompt"}
#: Sampler settings found by input name: role -> (input names, manifest type).
_SAMPLER_SETTINGS: dict[str, tuple[tuple[str, ...], str]] = {
    "steps": (("steps",), "int"),
    "cfg": (("cfg", "guidance"), "float"),
    "denoise": (("denoise",), "float"),
    "sampler": (("sampler_name",), "choice"),
    "scheduler": (("scheduler",), "choice"),
}
_SEED_INPUTS = ("seed", "noise_seed")
_TEXT_INPUTS = ("text", "text_g", "text_l", "prompt", "clip_l", "t5xxl")
#: Model folders by loader input name (ComfyUI's folder_paths names).
_MODEL_FOLDERS = {
    "ckpt_name": "checkpoints", "lora_name": "loras", "vae_name": "vae", "unet_name":
    "diffusion_models", "clip_name": "text_encoders", "clip_name1": "text_encoders",
    "clip_name2": "text_encoders", "clip_name3": "text_encoders", "control_net_name":
    "controlnet", "model_name": "upscale_models", "style_model_name": "style_models",
    "gligen_name": "gligen", "hypernetwork_name": "hypernetworks", "lora": "loras",
}
#: Loader classes whose input names mislead the table above.
_MODEL_FOLDER_BY_CLASS = {("CLIPVisionLoader", "clip_name"): "clip_vision",
                          ("UpscaleModelLoader", "model_name"): "upscale_models"}
_MODEL_ROLES = {"checkpoints": "checkpoint", "loras": "lora", "vae": "vae",
                "diffusion_models": "diffusion_model", "text_encoders": "text_encoder",
                "controlnet": "controlnet", "upscale_models": "upscale_model",
                "clip_vision": "clip_vision", "style_models": "style_model"}
_LATENT_SIZE = ("width", "height", "batch_size")
_MESH_INPUTS = frozenset({"mesh", "mesh_path", "model_file", "glb_path", "mesh_file", "trimesh_path",
                          "file_path", "model_path"})
_MESH_CLASS = re.compile(r"mesh|3d|glb|trimesh|hunyuan", re.IGNORECASE)
#: Output nodes whose files land in the library.
IMAGE_OUTPUT_NODES = frozenset({"SaveImage", "PreviewImage", "SaveImageWebsocket",
                                "SaveAnimatedWEBP", "SaveAnimatedPNG", "ImageSaveWithMetadata"})
MESH_OUTPUT_NODES = frozenset({"SaveGLB", "Hy3DExportMesh", "Hy3DSaveMesh", "SaveMesh",
                               "Preview3D", "SaveGLBMesh"})
WEBHOOK_NODE = "AutomataWebhook"


@dataclass
class Discovery:
    """What a workflow takes and makes."""

    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


def discover(graph: Mapping[str, Any], object_info: Mapping[str, Any] | None) -> Discovery:
    """Parameters by role and the output nodes of an API-format graph."""
    return _Finder(graph, object_info or {}).run()


class _Finder:
    def __init__(self, graph: Mapping[str, Any], object_info: Mapping[str, Any]) -> None:
        self.graph = graph
        self.info = object_info
        self.found = Discovery()
        self.bound: set[tuple[str, str]] = set()

    def run(self) -> Discovery:
        samplers = [nid for nid in _by_id(self.graph)
                    if self._has_input(nid, "positive") or self._has_input(nid, "noise_seed")
                    or self._is_sampler(nid)]
        self._prompts(samplers)
        self._seeds()
        self._sampler_settings(samplers)
        self._models()
        self._latent_size()
        self._loaders()
        self._strength()
        self._outputs()
        return self.found

    # -- roles ---------------------------------------------------------------------------------

    def _prompts(self, samplers: list[str]) -> None:
        for polarity in ("prompt", "negative_prompt"):
            targets: list[tuple[str, str]] = []
            for sampler in samplers:
                for name, role in _CONDITIONING_INPUTS.items():
                    if role == polarity:
                        value = self._inputs(sampler).get(name)
                        if _is_link(value):
                            targets += self._encoders_upstream(value, polarity, set())
            targets = [t for t in dict.fromkeys(targets) if t not in self.bound]
            if targets:
                node, input_name = targets[0]
                self._add(polarity, "text", targets, self._inputs(node).get(input_name),
                          label="Prompt" if polarity == "prompt" else "Negative prompt")

    def _encoders_upstream(self, link: list[Any], polarity: str,
                           seen: set[str]) -> list[tuple[str, str]]:
        node_id, slot = str(link[0]), int(link[1])
        if node_id in seen or node_id not in self.graph:
            return []
        seen.add(node_id)
        inputs = self._inputs(node_id)
        texts = [n for n in _TEXT_INPUTS if n in inputs]
        if texts:
            out = []
            for name in texts:
                value = inputs[name]
                if _is_link(value):  # the text comes from a string node: bind that one's value
                    out += self._string_source(value, set())
                elif isinstance(value, str):
                    out.append((node_id, name))
            return out
        # A conditioning node in between: follow the input of the same polarity when it has
        # positive/negative inputs (ControlNet apply), else every conditioning-like input.
        names = self._output_names(node_id)
        wanted = names[slot].lower() if slot < len(names) else ""
        if "positive" in inputs and "negative" in inputs:
            follow = ["negative" if wanted == "negative" or (not wanted and polarity ==
                                                                "negative_prompt") else "positive"]
        else:
            follow = [n for n, v in inputs.items() if _is_link(v) and self._is_conditioning(
                node_id, n)]
        out = []
        for name in follow:
            if _is_link(inputs.get(name)):
                out += self._encoders_upstream(inputs[name], polarity, seen)
        return out

    def _string_source(self, link: list[Any], seen: set[str]) -> list[tuple[str, str]]:
        node_id = str(link[0])
        if node_id in seen or node_id not in self.graph:
            return []
        seen.add(node_id)
        for name, value in self._inputs(node_id).items():
            if isinstance(value, str) and name in ("value", "string", "text", "prompt"):
                return [(node_id, name)]
            if _is_link(value):
                return self._string_source(value, seen)
        return []

    def _seeds(self) -> None:
        targets = [(nid, name) for nid in _by_id(self.graph) for name in _SEED_INPUTS
                   if isinstance(self._inputs(nid).get(name), int)]
        if targets:
            node, name = targets[0]
            self._add("seed", "int", targets, self._inputs(node)[name], minimum=0,
                      maximum=0xFFFFFFFFFFFFFFFF, label="Seed")

    def _sampler_settings(self, samplers: list[str]) -> None:
        for role, (names, kind) in _SAMPLER_SETTINGS.items():
            for sampler in samplers:
                inputs = self._inputs(sampler)
                name = next((n for n in names if n in inputs and not _is_link(inputs[n])), None)
                if name is not None:
                    self._add(role, kind, [(sampler, name)], inputs[name],
                              choices=self._choices(sampler, name))
                    break

    def _models(self) -> None:
        for nid in _by_id(self.graph):
            class_type = self._class(nid)
            for name, value in self._inputs(nid).items():
                folder = model_folder(class_type, name)
                if folder is None or not isinstance(value, str):
                    continue
                role = self._free_name(_MODEL_ROLES.get(folder, folder))
                self._add(role, "choice", [(nid, name)], value, choices=self._choices(nid, name),
                          folder=folder)

    def _latent_size(self) -> None:
        for nid in _by_id(self.graph):
            inputs = self._inputs(nid)
            if "latent" not in self._class(nid).lower() or not all(
                    isinstance(inputs.get(n), int) for n in ("width", "height")):
                continue
            for name in _LATENT_SIZE:
                if isinstance(inputs.get(name), int):
                    self._add(name, "int", [(nid, name)], inputs[name], minimum=1)
            return

    def _loaders(self) -> None:
        for nid in _by_id(self.graph):
            class_type = self._class(nid)
            for name, value in self._inputs(nid).items():
                if _is_link(value) or (nid, name) in self.bound:
                    continue
                if self._is_image_input(class_type, nid, name):
                    self._add(self._free_name("image"), "image", [(nid, name)], value,
                              label=self._title(nid))
                elif name in _MESH_INPUTS and _MESH_CLASS.search(class_type) and isinstance(
                        value, str):
                    self._add(self._free_name("mesh"), "mesh", [(nid, name)], value,
                              label=self._title(nid))

    def _strength(self) -> None:
        for nid in _by_id(self.graph):
            value = self._inputs(nid).get("strength")
            if isinstance(value, int | float) and not isinstance(value, bool):
                self._add("strength", "float", [(nid, "strength")], float(value))
                return

    def _outputs(self) -> None:
        for nid in _by_id(self.graph):
            class_type = self._class(nid)
            if class_type == WEBHOOK_NODE:
                self.found.outputs.append({"node": nid, "class_type": class_type,
                                           "kind": "webhook"})
                continue
            is_mesh = class_type in MESH_OUTPUT_NODES
            if not (is_mesh or class_type in IMAGE_OUTPUT_NODES or self._is_output_node(nid)):
                continue
            prefix = self._inputs(nid).get("filename_prefix")
            kind = MapKind.MESH if is_mesh else output_kind(
                self._title(nid), prefix if isinstance(prefix, str) else "")
            self.found.outputs.append({"node": nid, "class_type": class_type,
                                       "kind": kind.value, "title": self._title(nid)})

    # -- the graph and the server's definitions -----------------------------------------------

    def _add(self, role: str, kind: str, targets: Iterable[tuple[str, str]], default: Any, *,
             choices: tuple[Any, ...] = (), minimum: float | None = None,
             maximum: float | None = None, label: str = "", folder: str = "") -> None:
        targets = [t for t in targets if t not in self.bound]
        if not targets or role in self.found.parameters:
            return
        self.bound.update(targets)
        spec: dict[str, Any] = {"role": _role_of(role), "type": kind,
                                "bind": [f"{n}.{i}" for n, i in targets], "default": default,
                                "label": label or role.replace("_", " ").capitalize()}
        if choices:
            spec["choices"] = list(choices)
        if minimum is not None:
            spec["min"] = minimum
        if maximum is not None:
            spec["max"] = maximum
        if folder:
            spec["folder"] = folder
        if kind == "choice" and choices and default not in choices:
            spec.pop("choices")  # a value the server lacks: reported as missing, not refused here
        self.found.parameters[role] = spec

    def _free_name(self, base: str) -> str:
        if base not in self.found.parameters:
            return base
        n = 2
        while f"{base}_{n}" in self.found.parameters:
            n += 1
        return f"{base}_{n}"

    def _inputs(self, node_id: str) -> dict[str, Any]:
        return self.graph[node_id].get("inputs") or {}

    def _class(self, node_id: str) -> str:
        return str(self.graph[node_id].get("class_type", ""))

    def _title(self, node_id: str) -> str:
        return str((self.graph[node_id].get("_meta") or {}).get("title") or self._class(node_id))

    def _has_input(self, node_id: str, name: str) -> bool:
        return name in self._inputs(node_id)

    def _spec(self, node_id: str) -> Mapping[str, Any]:
        return self.info.get(self._class(node_id)) or {}

    def _is_sampler(self, node_id: str) -> bool:
        category = str(self._spec(node_id).get("category", ""))
        return category.startswith("sampling") and "steps" in self._inputs(node_id)

    def _is_output_node(self, node_id: str) -> bool:
        spec = self._spec(node_id)
        return bool(spec.get("output_node")) and not spec.get("output") and any(
            isinstance(v, list) for v in self._inputs(node_id).values())

    def _output_names(self, node_id: str) -> list[str]:
        spec = self._spec(node_id)
        return [str(n) for n in spec.get("output_name") or spec.get("output") or ()]

    def _is_conditioning(self, node_id: str, name: str) -> bool:
        for input_name, entry in ordered_inputs(self._spec(node_id)):
            if input_name == name:
                return input_type(entry)[0] == "CONDITIONING"
        return name in ("conditioning", "conditioning_1", "conditioning_2", "conditioning_to",
                        "conditioning_from")

    def _choices(self, node_id: str, name: str) -> tuple[Any, ...]:
        for input_name, entry in ordered_inputs(self._spec(node_id)):
            if input_name == name:
                kind = input_type(entry)[0]
                return tuple(kind) if isinstance(kind, list) else ()
        return ()

    def _is_image_input(self, class_type: str, node_id: str, name: str) -> bool:
        for input_name, entry in ordered_inputs(self._spec(node_id)):
            if input_name == name:
                return bool(input_type(entry)[1].get("image_upload"))
        return name == "image" and "loadimage" in class_type.lower()


def model_folder(class_type: str, input_name: str) -> str | None:
    """The ComfyUI models folder a loader input's file belongs in, or None if not a model."""
    if (class_type, input_name) in _MODEL_FOLDER_BY_CLASS:
        return _MODEL_FOLDER_BY_CLASS[(class_type, input_name)]
    if "loader" not in class_type.lower() and input_name != "ckpt_name":
        return None
    return _MODEL_FOLDERS.get(input_name)


def output_kind(title: str, filename_prefix: str) -> MapKind:
    """An output's map kind from its node title, then its filename prefix."""
    for text in (title, filename_prefix.rsplit("/", 1)[-1]):
        kind = infer_map_kind(f"{text}.png") if text else MapKind.OTHER
        if kind not in (MapKind.OTHER, MapKind.PREVIEW):
            return kind
    return MapKind.OTHER


def node_output_kind(node: Mapping[str, Any]) -> MapKind:
    """What an output node's files are, by its title and filename prefix (for files whose own
    names say nothing, such as SaveImage's default "ComfyUI_00001_.png")."""
    title = str((node.get("_meta") or {}).get("title") or "")
    prefix = (node.get("inputs") or {}).get("filename_prefix")
    return output_kind(title, prefix if isinstance(prefix, str) else "")


def _role_of(name: str) -> str:
    return re.sub(r"_\d+$", "", name)


def _by_id(graph: Mapping[str, Any]) -> list[str]:
    """Node ids in the order ComfyUI numbers them (subgraph ids `5:3` after `5`)."""
    def key(node_id: str) -> tuple[tuple[int, int | str], ...]:
        return tuple((0, int(p)) if p.isdigit() else (1, p) for p in str(node_id).split(":"))
    return sorted(graph, key=key)


def _is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[1], int)
