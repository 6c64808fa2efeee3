"""The convolution playground (utils/playground.py): sizes, refusals on screen, redraws, the static figure."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from utils import conv_playground
from utils.widgets.conv_geometry import PRESETS, PlaygroundError, Setting, output_size, parse_kernel


@pytest.fixture
def playground():
    generator = torch.Generator().manual_seed(0)
    return conv_playground({"digit": torch.rand(28, 28, generator=generator),
                            "photo": torch.rand(1, 40, 30, generator=generator)})


@pytest.mark.parametrize("size,kernel,stride,padding,dilation", [
    (28, 5, 1, 0, 1), (28, 3, 2, 1, 1), (28, 3, 1, 0, 2), (7, 3, 3, 2, 2), (5, 5, 1, 0, 1), (30, 2, 4, 3, 3)])
def test_output_size_matches_conv2d(size, kernel, stride, padding, dilation):
    real = F.conv2d(torch.zeros(1, 1, size, size), torch.zeros(1, 1, kernel, kernel), stride=stride,
                    padding=padding, dilation=dilation).shape[-1]
    assert output_size(size, kernel, stride, padding, dilation) == real


def test_the_output_is_conv2d_and_the_note_shows_its_size(playground):
    playground.show(stride=2, padding=1, dilation=1, preset="vertical edges (Sobel)")
    sobel = torch.tensor(PRESETS["vertical edges (Sobel)"])
    expected = F.conv2d(playground.images["digit"][None, None], sobel[None, None], stride=2, padding=1)[0, 0]
    assert torch.equal(playground.output, expected)
    assert tuple(playground.output.shape) == (14, 14)
    assert "output map 14x14" in playground.note.value
    assert "= 14</b>" in playground.formula.value
    assert (playground.row.max, playground.col.max) == (13, 13)


def test_a_non_square_image_and_kernel(playground):
    playground.show(image="photo", kernel_text="1 0 -1\n1 0 -1", stride=1, padding=0)
    assert tuple(playground.output.shape) == (39, 28)
    assert playground.preset.value == "your own"
    assert "output map 39x28" in playground.note.value


@pytest.mark.parametrize("controls,words", [
    ({"stride": 0}, "stride 0"),
    ({"dilation": 0}, "dilation 0"),
    ({"preset": "blur 5x5 (binomial)", "dilation": 8}, "spans 33x33 pixels"),
    ({"kernel_text": "1 2; 3"}, "same number of values"),
    ({"kernel_text": "1 x 3"}, "type numbers only"),
    ({"kernel_text": "nan 1; 1 1"}, "finite"),
])
def test_impossible_settings_are_refused_on_screen(playground, controls, words):
    playground.show(stride=2)
    before, redraws, png = playground.output, playground.redraws, playground.picture_widget.value
    playground.show(**controls)  # never raises
    assert words in playground.message
    assert playground.message in playground.note.value.replace("&#x27;", "'")
    assert "color:#c00" in playground.note.value
    assert playground.redraws == redraws and playground.picture_widget.value == png  # the last view stays
    assert playground.output is before
    playground.show(stride=1, dilation=1, preset="sharpen")  # and it recovers
    assert playground.message == "" and "output map 26x26" in playground.note.value


def test_moving_a_control_redraws_only_the_picture(playground):
    kernel_png, png, redraws = playground.kernel_widget.value, playground.picture_widget.value, playground.redraws
    playground.padding.value = 2
    assert playground.redraws == redraws + 1
    assert playground.picture_widget.value != png
    assert playground.kernel_widget.value == kernel_png  # same kernel: its picture is not rendered again
    playground.preset.value = "sharpen"
    assert playground.kernel_widget.value != kernel_png


def test_the_position_sliders_follow_the_output_and_the_window_moves(playground):
    playground.show(stride=1, padding=0, row=20, col=21)
    assert playground.setting.row == 20 and playground.setting.col == 21
    playground.show(stride=3)  # 9x9 now: the position is clipped to the last cell
    assert (playground.row.value, playground.col.value) == (8, 8)
    window = playground._canvas.window
    assert (window.get_x(), window.get_y()) == (8 * 3 - 0.5, 8 * 3 - 0.5)


def test_the_static_figure_has_titles_and_three_panels(playground):
    playground.show(stride=2, padding=1)
    figure = playground.figure
    assert len(figure.axes) == 3
    titles = [ax.get_title() for ax in figure.axes]
    assert titles[0].startswith("input: digit 28x28, padding 1")
    assert titles[2].startswith("output 14x14")
    assert figure._repr_png_().startswith(b"\x89PNG")


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="image 'rgb' has shape"):
        conv_playground({"rgb": torch.rand(3, 8, 8)})
    with pytest.raises(TypeError, match="conv_playground wants"):
        conv_playground([torch.rand(8, 8)])
    with pytest.raises(TypeError, match="unknown controls"):
        conv_playground(torch.rand(8, 8)).show(strides=2)


def test_parse_kernel_and_setting_check():
    assert torch.equal(parse_kernel("1, 2\n3 4"), torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
    with pytest.raises(PlaygroundError, match="at most 7"):
        parse_kernel("; ".join(["1 " * 8] * 2))
    with pytest.raises(PlaygroundError, match="padding -1"):
        Setting("x", torch.ones(3, 3), 1, -1, 1).check(28, 28)
    assert Setting("x", torch.ones(3, 3), 1, 0, 1).check(3, 3) == (1, 1)


@pytest.mark.parametrize("text", ["1 2; 3", "1 2\n3", "", "1 x 3"])
def test_malformed_weights_never_put_a_kernel_of_0_in_the_formula(playground, text):
    playground.show(stride=1, padding=2)
    playground.show(kernel_text=text)
    assert "(0 − 1)" not in playground.formula.value and "= 55" not in playground.formula.value
    assert "– (the weights are not a kernel yet)" in playground.formula.value
    playground.show(kernel_text="1 0 -1\n2 0 -2\n1 0 -1")
    assert "·(3 − 1)" in playground.formula.value and "= 30</b>" in playground.formula.value


def test_the_weights_box_is_wide_enough_for_the_widest_presets_rows(playground):
    from utils.widgets.conv_geometry import format_kernel

    widest = max(len(line) for kernel in PRESETS.values() for line in format_kernel(kernel).splitlines())
    assert widest >= 40, "the 5x5 blur's rows, e.g. '0.003906 0.01562 0.02344 0.01562 0.003906'"
    assert playground.kernel_text.layout.width == f"calc(62px + {widest + 4}ch)"  # the browser test measures it
