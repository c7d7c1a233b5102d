"""AUTOMATA Desktop: AI texturing of 3D models with ComfyUI, previewed as PBR materials."""

__version__ = "0.1.0"
