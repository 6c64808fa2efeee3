"""Tile labels drawn as glyph outlines: one filled path per colour instead of one Text artist per label.

Measured on the drawing benchmark: 64 labels cost about +25 ms this way against about +90 ms as 64 `ax.text`
calls, which lay out and draw each text on its own. Outlines are cached per character AND per font file, so a
font change (rcParams["font.family"], a style) after the first figure is honoured.
"""

from __future__ import annotations

import functools

import numpy as np
from matplotlib.font_manager import FontProperties, findfont, get_font
from matplotlib.patches import PathPatch
from matplotlib.path import Path as MplPath
from matplotlib.textpath import TextPath

__all__ = ["text_patch"]

_GLYPH_SIZE = 100.0  # points; outlines are computed at this size and scaled


@functools.lru_cache(maxsize=512)
def _glyph(char: str, font_file: str) -> tuple[np.ndarray, np.ndarray, float]:
    """The outline of one character in one font file (vertices in points at _GLYPH_SIZE, codes), and its advance."""
    font = get_font(font_file)
    font.set_size(_GLYPH_SIZE, 72)
    advance = font.load_char(ord(char)).linearHoriAdvance / 65536
    if char.isspace():
        return np.zeros((0, 2)), np.zeros(0, dtype=MplPath.code_type), advance
    path = TextPath((0, 0), char, prop=FontProperties(fname=font_file, size=_GLYPH_SIZE))
    return np.asarray(path.vertices, dtype=float), np.asarray(path.codes), advance


def text_patch(items: list[tuple[float, float, str]], size: float, colour: str, bold: bool = False) -> PathPatch:
    """Texts (x, baseline y, string) in an image's data coordinates (y down), `size` image pixels per em, as one patch.

    The font is matplotlib's current default (rcParams), looked up at each call.

    >>> patch = text_patch([(0.0, 10.0, "ch 0"), (30.0, 10.0, "ch 1")], size=8.0, colour="black")
    >>> patch.get_path().vertices.shape[1], patch.get_visible()
    (2, True)
    """
    font_file = findfont(FontProperties(weight="bold" if bold else "normal"))
    factor = size / _GLYPH_SIZE
    vertices, codes = [], []
    for x, y, text in items:
        cursor = 0.0
        for char in text:
            outline, kinds, advance = _glyph(char, font_file)
            if len(outline):
                vertices.append(np.column_stack([x + (outline[:, 0] + cursor) * factor, y - outline[:, 1] * factor]))
                codes.append(kinds)
            cursor += advance
    if not vertices:
        return PathPatch(MplPath(np.zeros((1, 2))), visible=False)
    return PathPatch(MplPath(np.concatenate(vertices), np.concatenate(codes)), facecolor=colour, edgecolor="none",
                     linewidth=0)
