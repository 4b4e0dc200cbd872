"""Pillow's default font at a given pixel size, cached (the bitmap font where FreeType is missing)."""

from __future__ import annotations

from PIL import ImageFont

__all__ = ["font"]

_FONT_CACHE: dict[int, ImageFont.ImageFont | ImageFont.FreeTypeFont] = {}


def font(size: int):
    """The default font at ``size`` pixels."""
    if size not in _FONT_CACHE:
        try:
            _FONT_CACHE[size] = ImageFont.load_default(size=size)
        except (TypeError, OSError, AttributeError):  # Pillow without FreeType: fixed bitmap font
            _FONT_CACHE[size] = ImageFont.load_default()
    return _FONT_CACHE[size]
