"""AUTOMATA nodes for ComfyUI: derive PBR maps from a color image and deliver results to the
AUTOMATA Desktop app through a signed webhook.

Loaded by ComfyUI from `custom_nodes/<folder>/__init__.py` as a package, so modules import each
other relatively. Needs only numpy and Pillow (both ComfyUI's own); torch is used only when
ComfyUI hands us tensors.
"""

__version__ = "0.1.0"  # before the node modules: the Webhook node states it in its description

from .nodes import (
    AutomataNormalFromHeight,
    AutomataPackORM,
    AutomataPBRFromImage,
    AutomataSplitChannels,
)
from .webhook_node import AutomataWebhook

NODE_CLASS_MAPPINGS = {
    "AutomataWebhook": AutomataWebhook,
    "AutomataPBRFromImage": AutomataPBRFromImage,
    "AutomataNormalFromHeight": AutomataNormalFromHeight,
    "AutomataPackORM": AutomataPackORM,
    "AutomataSplitChannels": AutomataSplitChannels,
}

NODE_DISPLAY_NAME_MAPPINGS = {
    "AutomataWebhook": "AUTOMATA Webhook",
    "AutomataPBRFromImage": "AUTOMATA PBR From Image",
    "AutomataNormalFromHeight": "AUTOMATA Normal From Height",
    "AutomataPackORM": "AUTOMATA Pack ORM",
    "AutomataSplitChannels": "AUTOMATA Split Channels",
}

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "__version__"]
