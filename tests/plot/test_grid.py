"""utils.plot.grid: the grid's glyph labels."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")


from utils.plot.grid import (  # noqa: E402
    text_patch,  # noqa: E402
)


def test_tile_labels_follow_a_font_change_after_the_first_figure():

    items = [(0.0, 10.0, "ch 12")]
    with matplotlib.rc_context({"font.family": "DejaVu Sans"}):
        sans = text_patch(items, 8.0, "black").get_path().vertices.copy()
    with matplotlib.rc_context({"font.family": "DejaVu Serif"}):
        serif = text_patch(items, 8.0, "black").get_path().vertices
    assert sans.shape != serif.shape or not (sans == serif).all()
