"""Checks for the notebooks' exercises.

Each check prints one line, "✓ ..." or "✗ Not yet: ...", and returns a CheckResult that is true or false. A wrong
answer never raises (so a notebook still runs top to bottom) and the message says what is wrong without giving the
answer away.
The worked solutions in notebooks/solutions/ assert that every check returns True.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable

import torch


class CheckResult:
    """What a check returns: true when the answer is right; its message is printed once, when it is made."""

    def __init__(self, ok: bool, message: str) -> None:
        self.ok, self.message = ok, message
        print(message)

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return f"CheckResult(ok={self.ok}, message={self.message!r})"

    def _ipython_display_(self) -> None:
        """Show nothing more in a notebook: the message was printed already."""


def report(ok: bool, success: str, problem: str = "") -> CheckResult:
    """Print the outcome of a check and return it (true when ok)."""
    return CheckResult(ok, f"✓ {success}" if ok else f"✗ Not yet: {problem}")


def _as_number(value) -> float | None:
    """value as a float when it is a plain number (or a one-element tensor or array), else None."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if hasattr(value, "item") and getattr(value, "size", None) == 1:
        return value.item()
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return float(value)
    return None


def _is_int(value, expected: int) -> bool:
    number = _as_number(value)
    return number is not None and number == expected


def _not_answered(value) -> bool:
    return value is None or value is ...


def _missing(what: str) -> CheckResult:
    return report(False, "", f"fill in {what} in the cell above (it is still None), then run this check again.")


def _call(function: Callable, *args):
    """function(*args), or the error it raised (as the value), so that a check can report it."""
    try:
        return function(*args)
    except Exception as error:  # the learner's code failed: say how, instead of a stack trace from in here
        return error


# --- 00 · Start here -------------------------------------------------------------------------------------------

def check_batch_shape(shape) -> CheckResult:
    """Exercise 00.1: the shape of a batch of 8 MNIST test digits, as (N, C, H, W)."""
    if _not_answered(shape):
        return _missing("`batch_shape`")
    shape = tuple(int(s) for s in shape)
    if len(shape) != 4:
        return report(False, "", f"{shape} has {len(shape)} numbers; images in PyTorch have 4: (N, C, H, W).")
    if shape[0] != 8:
        return report(False, "", "the first number is the batch size N: the batch asked for has 8 digits.")
    if shape[1:] != (1, 28, 28):
        return report(False, "", "N is right; check C, H, W: how many colour channels does an MNIST digit have, "
                                 "and how many pixels high and wide is it?")
    return report(True, "Right: 8 digits, 1 channel (grey), 28 x 28 pixels.")


def check_pixel_range(low, high) -> CheckResult:
    """Exercise 00.2: the smallest and largest pixel value after the course's transform."""
    if _not_answered(low) or _not_answered(high):
        return _missing("`low` and `high`")
    low, high = _as_number(low), _as_number(high)
    if low is None or high is None:
        return report(False, "", "give `low` and `high` as numbers.")
    if (low, high) == (0, 1) or (low, high) == (0, 255):
        return report(False, "", "that is the range before Normalize((0.5,), (0.5,)); what does (x - 0.5) / 0.5 do "
                                 "to it?")
    if abs(low + 1) > 1e-6 or abs(high - 1) > 1e-6:
        return report(False, "", f"[{low}, {high}] is not the range the transform gives; measure it with "
                                 ".min() and .max() on a batch.")
    return report(True, "Right: Normalize((0.5,), (0.5,)) maps [0, 1] to [-1, 1] (background -1, ink +1).")


# --- 03 · Training the SimpleCNN ------------------------------------------------------------------------------

def check_per_class_accuracy(function: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise 03.1: a function that turns a (10, 10) confusion matrix into each class's accuracy."""
    if _not_answered(function):
        return _missing("`per_class_accuracy`")
    generator = torch.Generator().manual_seed(3)
    counts = torch.randint(0, 20, (10, 10), generator=generator) + torch.diag(torch.arange(50, 150, 10))
    expected = counts.diag().double() / counts.sum(1).double()
    result = _call(function, counts.clone())
    if isinstance(result, Exception):
        return report(False, "", f"your function raised {type(result).__name__}: {result}")
    result = torch.as_tensor(result).double().flatten()
    if result.shape != (10,):
        return report(False, "", f"expected one accuracy per class (10 values), got {tuple(result.shape)}.")
    if torch.allclose(result, counts.diag().double() / counts.sum(0).double()):
        return report(False, "", "you divided by the column sums: rows are the true classes, so divide each "
                                 "diagonal count by its row's total.")
    if torch.allclose(result, expected * 100, atol=1e-6):
        return report(False, "", "give fractions between 0 and 1, not percentages.")
    if not torch.allclose(result, expected, atol=1e-6):
        return report(False, "", "the values do not match the per-class accuracy of a test matrix: each class's "
                                 "correct count is on the diagonal.")
    return report(True, "Right: correct predictions of a class (diagonal) over all samples of that class (row).")


def check_flatten_size(size) -> CheckResult:
    """Exercise 03.2: how many values conv2's pooled output has per sample for a 32x32 input."""
    if _not_answered(size):
        return _missing("`flatten_size`")
    if _is_int(size, 512):
        return report(False, "", "512 = 32 x 4 x 4 is the size for 28 x 28 inputs; redo the arithmetic for 32 x 32.")
    if _is_int(size, 32 * 4 * 4) or not _is_int(size, 32 * 5 * 5):
        return report(False, "", "follow the sizes: conv 5x5 (no padding) removes 4 pixels, a 2x2 pool halves "
                                 "(rounding down); then multiply by the 32 channels.")
    return report(True, "Right: 32 -> 28 -> 14 -> 10 -> 5, so 32 channels x 5 x 5 values.")


def check_conv2_parameters(count) -> CheckResult:
    """Exercise 03.3: the number of trainable parameters in conv2."""
    if _not_answered(count):
        return _missing("`conv2_parameters`")
    if _is_int(count, 16 * 32 * 5 * 5):
        return report(False, "", "that counts the weights only: every output channel also has a bias.")
    if _is_int(count, 32 * 5 * 5 + 32) or _is_int(count, 32 * 5 * 5):
        return report(False, "", "each of the 32 filters sees all 16 input channels, so it has 16 x 5 x 5 weights.")
    if not _is_int(count, 16 * 32 * 5 * 5 + 32):
        return report(False, "", "count weights (out x in x kernel height x kernel width) plus one bias per output "
                                 "channel; sum(p.numel() for p in model.conv2.parameters()) lets you check.")
    return report(True, "Right: 32 x 16 x 5 x 5 weights plus 32 biases.")


# --- 01 · Convolution from scratch ------------------------------------------------------------------------------

def _conv_size(size: int, kernel: int, stride: int, padding: int, dilation: int) -> int:
    """What PyTorch itself gives along one dimension (run, not computed from a formula)."""
    import torch.nn.functional as F

    x, w = torch.zeros(1, 1, size, 1), torch.zeros(1, 1, kernel, 1)
    return F.conv2d(x, w, stride=(stride, 1), padding=(padding, 0), dilation=(dilation, 1)).shape[2]


def _size_cases() -> list[tuple[int, int, int, int, int]]:
    cases = []
    for size in (1, 5, 7, 28, 32):
        for kernel in (1, 2, 3, 5):
            for stride in (1, 2, 3):
                for padding in (0, 1, 2):
                    for dilation in (1, 2, 3):
                        if size + 2 * padding >= dilation * (kernel - 1) + 1:
                            cases.append((size, kernel, stride, padding, dilation))
    return cases


def check_output_size(function: Callable[..., int]) -> CheckResult:
    """Exercise 01.1: output_size(size, kernel, stride, padding, dilation), checked against PyTorch's convolution."""
    if _not_answered(function):
        return _missing("`output_size`")
    wrong = []
    for case in _size_cases():
        result = _call(function, *case)
        if isinstance(result, Exception):
            return report(False, "", f"output_size{case} raised {type(result).__name__}: {result}")
        number = _as_number(result)
        if number is None:
            return report(False, "", f"output_size{case} returned {result!r}; return the size as a whole number.")
        if number != int(number):
            return report(False, "", f"output_size{case} returned {number}, which is not a whole number: a position "
                                     "where the kernel does not fit entirely is not computed, so round down (//).")
        if number != _conv_size(*case):
            wrong.append((case, int(number)))
    if not wrong:
        return report(True, f"Right: your formula matches nn.Conv2d in all {len(_size_cases())} cases.")
    if all(case[4] > 1 for case, _ in wrong):
        return report(False, "", "right without dilation, wrong when dilation > 1: how many input pixels does a "
                                 "kernel of size k span when its taps are d pixels apart?")
    if all(case[3] > 0 for case, _ in wrong):
        return report(False, "", "right without padding, wrong with it: padding is added on both sides.")
    if all(case[2] > 1 for case, _ in wrong):
        return report(False, "", "right with stride 1, wrong with larger strides: count the kernel's positions, "
                                 "which are `stride` pixels apart.")
    (size, kernel, stride, padding, dilation), yours = wrong[0]
    return report(False, "", f"{len(wrong)} of {len(_size_cases())} cases differ, e.g. size={size}, kernel={kernel}, "
                             f"stride={stride}, padding={padding}, dilation={dilation}: yours gives {yours}; "
                             "try that case with nn.Conv2d on torch.zeros(1, 1, size, size).")


def _edge_responses(kernel: torch.Tensor) -> tuple[float, float, float]:
    """Largest |response| of the kernel to a horizontal edge, a vertical edge and a flat image."""
    import torch.nn.functional as F

    horizontal = torch.zeros(9, 9, dtype=torch.float64)
    horizontal[5:] = 1.0  # dark above, bright below: an edge that runs from left to right
    images = torch.stack([horizontal, horizontal.T.clone(), torch.ones(9, 9, dtype=torch.float64)])[:, None]
    out = F.conv2d(images, kernel.view(1, 1, 3, 3))
    return tuple(float(out[i].abs().max()) for i in range(3))


def check_horizontal_edge_kernel(kernel) -> CheckResult:
    """Exercise 01.2: a 3x3 kernel that responds to horizontal edges, not to vertical ones or flat areas."""
    if _not_answered(kernel):
        return _missing("`kernel`")
    try:
        kernel = torch.as_tensor(kernel, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return report(False, "", "give the kernel as a 3x3 tensor (or a nested list of numbers).")
    if tuple(kernel.shape) != (3, 3):
        return report(False, "", f"the kernel has shape {tuple(kernel.shape)}; make it 3 rows of 3 numbers.")
    if not torch.isfinite(kernel).all() or kernel.abs().max() == 0:
        return report(False, "", "the kernel must hold finite numbers, not all zero.")
    h, v, flat = _edge_responses(kernel)
    scale = float(kernel.abs().max())
    if flat > 1e-6 * scale:
        return report(False, "", "it responds to a flat area, where there is no edge at all: what must its weights "
                                 "add up to?")
    if v >= h:
        return report(False, "", "it responds to vertical edges (brightness changing from left to right) at least as "
                                 "much as to horizontal ones (brightness changing from top to bottom).")
    if v > 0.1 * h:
        return report(False, "", "it responds to vertical edges too; make every column of the kernel the same, so "
                                 "that a change from left to right cancels out.")
    return report(True, "Right: it responds where brightness changes from top to bottom, and not to left-right "
                        "changes or flat areas.")


def check_conv2d_by_hand(function: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise 01.3: conv2d(image, kernel) for one 2-D image and kernel, stride 1, no padding, like F.conv2d."""
    import torch.nn.functional as F

    if _not_answered(function):
        return _missing("`conv2d`")
    generator = torch.Generator().manual_seed(1)
    for shape, kernel_shape in [((5, 5), (3, 3)), ((6, 9), (2, 4)), ((7, 4), (3, 1)), ((4, 4), (4, 4))]:
        image = torch.randn(shape, generator=generator)
        kernel = torch.randn(kernel_shape, generator=generator)
        expected = F.conv2d(image[None, None], kernel[None, None])[0, 0]
        result = _call(function, image.clone(), kernel.clone())
        if isinstance(result, Exception):
            return report(False, "", f"for a {shape} image and a {kernel_shape} kernel your function raised "
                                     f"{type(result).__name__}: {result}")
        try:
            result = torch.as_tensor(result, dtype=torch.float32)
        except (TypeError, ValueError, RuntimeError):
            return report(False, "", "return the output as a tensor (or a nested list of numbers).")
        if tuple(result.shape) != tuple(expected.shape):
            return report(False, "", f"for a {shape} image and a {kernel_shape} kernel the output should have one "
                                     f"value per position where the whole kernel fits; yours has shape "
                                     f"{tuple(result.shape)}.")
        if torch.allclose(result, F.conv2d(image[None, None], kernel.flip(0, 1)[None, None])[0, 0], atol=1e-4) \
                and not torch.allclose(result, expected, atol=1e-4):
            return report(False, "", "you flipped the kernel: that is convolution as signal processing defines it. "
                                     "PyTorch's conv2d slides the kernel as it is (cross-correlation).")
        if not torch.allclose(result, expected, atol=1e-4):
            return report(False, "", f"the shape is right but the values differ from F.conv2d (a {shape} image, a "
                                     f"{kernel_shape} kernel): each output is the sum of the kernel times the patch "
                                     "under it.")
    return report(True, "Right: your sliding dot product matches F.conv2d on 4 images and kernels.")


# --- 02 · From filters to feature maps ----------------------------------------------------------------------------

def check_channel_normalization(function: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise 02.1: scale every (H, W) map of an (N, C, H, W) tensor to [0, 1] on its own; constant maps to 0."""
    if _not_answered(function):
        return _missing("`normalize_per_channel`")
    generator = torch.Generator().manual_seed(2)
    maps = torch.randn(2, 3, 4, 5, generator=generator) * torch.tensor([0.01, 1.0, 30.0]).view(1, 3, 1, 1)
    maps[0, 1] = 0.0  # a dead map
    maps[1, 2] = 2.5  # a constant one
    given = maps.clone()
    result = _call(function, given)
    if isinstance(result, Exception):
        return report(False, "", f"your function raised {type(result).__name__}: {result}")
    if not torch.equal(given, maps):
        return report(False, "", "your function changed the tensor it was given; compute into a new tensor (x = x - "
                                 "m makes a new one, x -= m changes x in place).")
    try:
        result = torch.as_tensor(result, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return report(False, "", "return a tensor of the same shape as the input.")
    if tuple(result.shape) != tuple(maps.shape):
        return report(False, "", f"the result has shape {tuple(result.shape)}; it should keep the input's shape "
                                 f"{tuple(maps.shape)}.")
    flat = maps.double().flatten(2)
    low, high = flat.min(2, keepdim=True).values, flat.max(2, keepdim=True).values
    constant = (high - low) == 0
    expected = torch.where(constant, 0.0, (flat - low) / torch.where(constant, 1.0, high - low)).view_as(maps)
    if torch.isnan(result).any():
        return report(False, "", "some maps became NaN: a map whose values are all equal gives 0 / 0. Give such maps "
                                 "zeros.")
    if torch.allclose(result, expected, atol=1e-5):
        return report(True, "Right: every map runs from 0 to 1 on its own, and the dead and constant maps are zeros.")
    moving = ~constant.view(2, 3)
    if torch.allclose(result[moving], expected[moving], atol=1e-5):
        return report(False, "", "the varying maps are right; a map with no variation (all zeros, or all one value) "
                                 "should become zeros.")
    whole = (maps - maps.min()) / (maps.max() - maps.min())
    per_sample = (maps - maps.amin((1, 2, 3), keepdim=True)) / (maps.amax((1, 2, 3), keepdim=True)
                                                                - maps.amin((1, 2, 3), keepdim=True))
    if torch.allclose(result, whole.double(), atol=1e-5) or torch.allclose(result, per_sample.double(), atol=1e-5):
        return report(False, "", "you used one min and max for several maps; each (H, W) map needs its own (reduce "
                                 "over the last two dimensions only).")
    return report(False, "", "some maps are not scaled to run from 0 (at their own min) to 1 (at their own max).")


def check_sample_channels(select: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise 02.2: select(maps) -> channels 4 to 7 (inclusive) of the third sample of an (N, C, H, W) batch."""
    if _not_answered(select):
        return _missing("`select`")
    n, c = torch.meshgrid(torch.arange(8.0), torch.arange(16.0), indexing="ij")
    maps = (100 * n + c).view(8, 16, 1, 1).expand(8, 16, 3, 3).contiguous()  # each value says its sample and channel
    result = _call(select, maps.clone())
    if isinstance(result, Exception):
        return report(False, "", f"your function raised {type(result).__name__}: {result}")
    result = torch.as_tensor(result)
    if result.dim() == 4 and result.shape[0] == 1:
        return report(False, "", "the result still has a batch dimension of 1: index the sample with a plain "
                                 "integer, which drops that dimension, to get (channels, H, W).")
    if result.dim() != 3 or tuple(result.shape[1:]) != (3, 3):
        return report(False, "", f"expected (channels, H, W) for one sample; got shape {tuple(result.shape)}.")
    samples = sorted({int(v) // 100 for v in result[:, 0, 0].tolist()})
    channels = [int(v) % 100 for v in result[:, 0, 0].tolist()]
    if len(samples) > 1:
        return report(False, "", "your maps come from several samples: the first index picks the sample, the second "
                                 "the channel.")
    if samples != [2]:
        return report(False, "", "that is not the third sample: indices count from 0.")
    if channels != [4, 5, 6, 7]:
        if channels[:4] == [4, 5, 6, 7]:
            return report(False, "", "one channel too many: the end of a slice is not included.")
        return report(False, "", f"those are {len(channels)} channel(s) but not channels 4 to 7 (both included).")
    return report(True, "Right: the third sample (index 2), channels 4, 5, 6 and 7, as a (4, H, W) tensor.")


def check_symmetric_limits(function: Callable[[torch.Tensor], tuple[float, float]]) -> CheckResult:
    """Exercise 02.3: colour limits (vmin, vmax) for a signed map, so that 0 sits in the middle of a diverging map."""
    if _not_answered(function):
        return _missing("`symmetric_limits`")
    for m in (torch.tensor([[-3.0, 1.0], [0.5, 2.0]]), torch.tensor([[-0.5, 4.0], [0.0, 1.0]])):
        result = _call(function, m.clone())
        if isinstance(result, Exception):
            return report(False, "", f"your function raised {type(result).__name__}: {result}")
        try:
            vmin, vmax = (_as_number(v) for v in result)
        except (TypeError, ValueError):
            return report(False, "", "return two numbers, (vmin, vmax).")
        if vmin is None or vmax is None:
            return report(False, "", "return two numbers, (vmin, vmax).")
        low, high, largest = float(m.min()), float(m.max()), float(m.abs().max())
        if abs(vmin - low) < 1e-6 and abs(vmax - high) < 1e-6:
            return report(False, "", "those are the map's min and max: zero is not in the middle of that range, so "
                                     "the neutral colour would not mean zero.")
        if abs(vmin + vmax) > 1e-6:
            return report(False, "", "vmin and vmax must be opposites, so that zero sits in the middle.")
        if vmax < largest - 1e-6:
            return report(False, "", "some values fall outside your range and get clipped: cover the largest "
                                     "magnitude on either side of zero.")
        if vmax > largest + 1e-6:
            return report(False, "", "the range is wider than the data, so the colours are faded: make it just "
                                     "wide enough.")
    return report(True, "Right: vmin = -vmax = the largest |value|, so zero is in the middle and nothing is clipped.")


# --- 05 · Reading feature maps ---------------------------------------------------------------------------------

_BROKEN, _RARE = (3, 12, 27), 18  # what damaged_simplecnn breaks in conv2 (the exercise finds it out)


def damaged_simplecnn(device=None) -> torch.nn.Module:
    """Exercise 05.1: a copy of the trained SimpleCNN that someone broke; which conv2 channels died is the question.

    >>> damaged_simplecnn().conv2.out_channels
    32
    """
    from .train import load_trained_simplecnn

    model = load_trained_simplecnn()
    with torch.no_grad():
        model.conv2.bias[list(_BROKEN)] -= 30.0  # never positive any more
        model.conv2.bias[_RARE] -= 8.0  # positive only at its very strongest responses
    return model.to(device or "cpu")


def bar_images() -> tuple[torch.Tensor, torch.Tensor]:
    """Exercise 05.2: a horizontal and a vertical bar, 3 pixels thick, as (1, 1, 28, 28) digits (ink +1 on -1)."""
    horizontal = torch.full((1, 1, 28, 28), -1.0)
    horizontal[..., 12:15, :] = 1.0
    return horizontal, horizontal.transpose(2, 3).contiguous()


def _test_images(count: int | None = None) -> torch.Tensor:
    from .data import load_mnist

    test_set = load_mnist(train=False, verbose=False)
    count = len(test_set) if count is None else count
    return torch.stack([test_set[i][0] for i in range(count)])


def _conv2(model: torch.nn.Module, images: torch.Tensor) -> torch.Tensor:
    from .capture import get_feature_maps

    model = model.to("cpu")
    return torch.cat([get_feature_maps(model, batch, ["conv2"])["conv2"] for batch in images.split(500)])


def _channel_list(channels, count: int) -> list[int] | str:
    """channels (ints, or a boolean mask of `count` values) as sorted ints, or a message saying what is wrong."""
    if isinstance(channels, torch.Tensor):
        channels = channels.flatten().tolist()
    try:
        items = list(channels)
    except TypeError:
        return "give a list of channel numbers, e.g. [0, 5], or the boolean mask stats.dead."
    if items and all(isinstance(v, bool) for v in items):
        if len(items) != count:
            return f"a boolean mask needs one value per channel ({count})."
        return [i for i, dead in enumerate(items) if dead]
    numbers = [_as_number(v) for v in items]
    if any(n is None or n != int(n) for n in numbers):
        return "give channel numbers as integers."
    if any(not 0 <= n < count for n in numbers):
        return f"the layer has {count} channels, numbered 0 to {count - 1}."
    return sorted({int(n) for n in numbers})


def check_dead_channels(channels) -> CheckResult:
    """Exercise 05.1: the dead channels of damaged_simplecnn()'s conv2 over every test digit."""
    if _not_answered(channels):
        return _missing("`dead_channels`")
    answer = _channel_list(channels, 32)
    if isinstance(answer, str):
        return report(False, "", answer)
    from .stats import channel_stats

    stats = channel_stats(_conv2(damaged_simplecnn(), _test_images()))
    dead = set(stats.health()["dead"])
    extra, found = set(answer) - dead, set(answer) & dead
    if extra & set(stats.health()["sparse"]):
        return report(False, "", "your list has a channel that is zero almost everywhere but positive somewhere: "
                                 "that is sparse, not dead. Dead means never positive (frac_zero == 1, max <= 0).")
    if extra:
        return report(False, "", "some channels in your list are positive on some digits, so the ReLU lets them "
                                 "through: they are not dead.")
    if found != dead:
        return report(False, "", f"all {len(found)} channel(s) in your list are dead, but some dead ones are "
                                 "missing. Look at all 32 channels over all the test digits; some were dead before "
                                 "anyone broke the model.")
    return report(True, f"Right: these {len(dead)} channels never pass the ReLU on any test digit. Some were broken "
                        "on purpose; the others were dead already in the trained model.")


def check_horizontal_channel(channel) -> CheckResult:
    """Exercise 05.2: the conv1 channel that prefers the horizontal bar over the vertical one the most."""
    if _not_answered(channel):
        return _missing("`horizontal_channel`")
    number = _as_number(channel)
    if number is None or number != int(number) or not 0 <= number < 16:
        return report(False, "", "give one channel number of conv1: an integer from 0 to 15.")
    from .train import load_trained_simplecnn

    conv1 = load_trained_simplecnn().conv1
    with torch.no_grad():
        horizontal, vertical = (torch.relu(conv1(bar)).amax(dim=(0, 2, 3)) for bar in bar_images())
    preference = horizontal - vertical
    channel = int(number)
    if channel == int(preference.argmax()):
        return report(True, f"Right: channel {channel} answers the horizontal bar much more strongly than the "
                            "vertical one. Look at its filter and its maps of a digit.")
    if channel == int(horizontal.argmax()):
        return report(False, "", f"channel {channel} answers the horizontal bar most strongly of all, but the "
                                 "vertical bar about as strongly: it does not care about the direction. Compare "
                                 "each channel's response to both bars.")
    if preference[channel] > 0:
        return report(False, "", f"channel {channel} does prefer the horizontal bar, but another channel prefers "
                                 "it by more: compare max(horizontal) - max(vertical) for every channel.")
    return report(False, "", f"channel {channel} answers the vertical bar at least as strongly as the horizontal "
                             "one; look for the channel whose strongest response to the horizontal bar exceeds "
                             "its strongest response to the vertical one by the most.")


def check_frac_zero(value) -> CheckResult:
    """Exercise 05.3: frac_zero of conv2's channel 5 over the first 64 test digits, computed by hand."""
    if _not_answered(value):
        return _missing("`frac_zero_5`")
    number = _as_number(value)
    if number is None:
        return report(False, "", "give one number, a fraction between 0 and 1 (use .item() on a one-value tensor).")
    from .train import load_trained_simplecnn

    maps = _conv2(load_trained_simplecnn(), _test_images(64))
    truth = float((maps[:, 5] <= 0).float().mean())

    def near(x: float) -> bool:
        return abs(number - x) < 1e-4

    if near(truth):
        return report(True, "Right, and the same number as channel_stats(maps).frac_zero[5]: the share of channel "
                            "5's values that the ReLU sets to zero.")
    if near(100 * truth):
        return report(False, "", "give a fraction between 0 and 1, not a percentage.")
    if near(float((maps[:, 5] == 0).float().mean())):
        return report(False, "", "conv2's maps are captured before the ReLU, so exact zeros are rare: count the "
                                 "values the ReLU turns into zero, those <= 0.")
    if near(1 - truth):
        return report(False, "", "that is the share of values that pass the ReLU (positive); frac_zero counts the "
                                 "others.")
    if near(float((maps <= 0).float().mean())):
        return report(False, "", "that is the share over all 32 channels; take channel 5 only: maps[:, 5].")
    if near(float((maps[0, 5] <= 0).float().mean())):
        return report(False, "", "that is one digit's map; frac_zero is over all 64 digits and every position.")
    return report(False, "", "not the fraction of channel 5's values that are <= 0 over the first 64 test digits "
                             "(all positions); check which maps and which channel you used.")


# --- 04 · Capturing feature maps with hooks ------------------------------------------------------------------------

def _hook_count(model: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def _shapes_by_hooks(model: torch.nn.Module, x: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """The reference answer of exercise 04.1, with the course's own discipline (handles removed in finally)."""
    seen: list[tuple[str, tuple[int, ...]]] = []
    handles = [m.register_forward_hook(lambda mod, i, out, name=name: seen.append((name, tuple(out.shape))))
               for name, m in model.named_modules() if name]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return seen


def check_record_shapes(function: Callable) -> CheckResult:
    """Exercise 04.1: record_shapes(model, x) -> [(name, shape), ...] in the order the modules ran; hooks removed."""
    if _not_answered(function):
        return _missing("`record_shapes`")
    from .models import SimpleCNN

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        model = SimpleCNN().eval()
    x = torch.zeros(3, 1, 28, 28)
    expected = _shapes_by_hooks(model, x)
    result = _call(function, model, x)
    if _hook_count(model):
        return report(False, "", "hooks are still attached to the model after your function returned: keep every "
                                 "handle and call .remove() on each.")
    if isinstance(result, Exception):
        return report(False, "", f"your function raised {type(result).__name__}: {result}")
    try:
        pairs = [(name, shape) for name, shape in result]
    except (TypeError, ValueError):
        return report(False, "", "return a list of (name, shape) pairs, one per module call.")
    if any(isinstance(shape, torch.Tensor) for _, shape in pairs):
        return report(False, "", "record only the shape of each output (tuple(output.shape)), not the tensor.")
    try:
        pairs = [(name, tuple(int(s) for s in shape)) for name, shape in pairs]
    except (TypeError, ValueError):
        return report(False, "", "each shape should be a tuple of ints, such as tuple(output.shape).")
    names = [name for name, _ in pairs]
    if "" in names:
        return report(False, "", "the model itself (the name '') is in your list: skip it, hook its submodules only.")
    if names.count("pool") == 1:
        return report(False, "", "'pool' appears once, but the SimpleCNN calls it twice: record every call (append "
                                 "to a list), do not keep one entry per name.")
    if sorted(pairs) == sorted(expected) and pairs != expected:
        return report(False, "", "the right records, in another order: list them in the order the modules ran.")
    if pairs != expected:
        return report(False, "", "the list does not match the modules' calls on a batch of 3 digits: hook every "
                                 "module except the model itself, and record (name, tuple(output.shape)) per call.")
    broken = _call(function, model, torch.zeros(3, 3, 28, 28))  # 3 channels: conv1 fails inside forward
    if _hook_count(model):
        return report(False, "", "when the forward pass fails (try an input with 3 channels), your hooks stay on "
                                 "the model: remove them in a `finally:` block.")
    if not isinstance(broken, Exception):
        return report(False, "", "when the forward pass fails, your function hides the error: let it propagate "
                                 "(try/finally, not try/except).")
    return report(True, "Right: every call in order, pool twice, and no hook left behind, even after an error.")


def check_pool_calls(count, last_shape) -> CheckResult:
    """Exercise 04.2: how many pool outputs two forward passes (batches of 4) leave, and the last one's shape."""
    if _not_answered(count) or _not_answered(last_shape):
        return _missing("`pool_calls` and `last_shape`")
    try:
        shape = tuple(int(s) for s in last_shape)
    except (TypeError, ValueError):
        return report(False, "", "give `last_shape` as a tuple of ints, such as tuple(t.shape).")
    if _is_int(count, 2):
        return report(False, "", "2 is what one forward pass leaves; the block ran the model twice.")
    if not _is_int(count, 4):
        return report(False, "", "count again: how many times does the SimpleCNN call pool per forward pass, and how "
                                 "many forward passes ran inside the block?")
    if len(shape) != 4:
        return report(False, "", "pool's output is (N, C, H, W): four numbers.")
    if shape[0] == 8:
        return report(False, "", "the count is right; each forward pass saw one batch, not all 8 digits.")
    if shape[1:] == (16, 12, 12):
        return report(False, "", "the count is right; that shape is a first call (after conv1). Which call comes "
                                 "last in a forward pass?")
    if shape != (4, 32, 4, 4):
        return report(False, "", "the count is right; check the shape with tuple(maps.calls('pool')[-1].shape).")
    return report(True, "Right: pool runs twice per pass, two passes, and the last call pools conv2's 8x8 maps.")


def check_most_active_channel(function: Callable) -> CheckResult:
    """Exercise 04.3: most_active_channel(model, image) -> the conv2 channel with the largest mean, for one digit."""
    if _not_answered(function):
        return _missing("`most_active_channel`")
    from .capture import get_feature_maps
    from .train import load_trained_simplecnn

    model = load_trained_simplecnn()
    images = _test_images(8)[[0, 1, 2, 3, 7]]
    for image in images:
        maps = get_feature_maps(model, image[None], ["conv1", "conv2"])
        conv1, conv2 = maps["conv1"][0], maps["conv2"][0]
        expected = int(conv2.mean(dim=(1, 2)).argmax())
        result = _call(function, model, image)
        if isinstance(result, Exception):
            hint = (" The model takes a batch (N, 1, 28, 28): add the batch dimension with image[None]."
                    if "size" in str(result) or "shape" in str(result) or "dimension" in str(result) else "")
            return report(False, "", f"your function raised {type(result).__name__}: {result}{hint}")
        number = _as_number(result)
        if number is None or number != int(number):
            return report(False, "", "return one channel index, an int (use int(...) or .item()).")
        channel = int(number)
        if not 0 <= channel < conv2.shape[0]:
            return report(False, "", f"{channel} is not a channel of conv2 (0 to 31): take the mean over each "
                                     "channel's map first, then the argmax over the channels.")
        if channel == expected:
            continue
        if channel == int(conv2.amax(dim=(1, 2)).argmax()):
            return report(False, "", "that channel has the largest single value; the exercise asks for the largest "
                                     "mean over the map.")
        if channel == int(conv1.mean(dim=(1, 2)).argmax()):
            return report(False, "", "that looks like an answer for conv1: capture conv2.")
        return report(False, "", "a different channel than the one with the largest mean in conv2's output for "
                                 "this digit; average each channel's 8x8 map, then take the argmax.")
    return report(True, f"Right for all {len(images)} test digits tried.")


def nested_exercise_model() -> torch.nn.Module:
    """Exercise 04.4: a model with blocks inside blocks, whose layer names are the question.

    >>> nested_exercise_model()(torch.zeros(1, 1, 28, 28)).shape
    torch.Size([1, 10])
    """
    from collections import OrderedDict

    from torch import nn

    def block(channels_in: int, channels_out: int) -> nn.Sequential:
        return nn.Sequential(OrderedDict(conv=nn.Conv2d(channels_in, channels_out, 3, padding=1),
                                         norm=nn.BatchNorm2d(channels_out), act=nn.ReLU()))

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        model = nn.Sequential(OrderedDict(
            stem=nn.Conv2d(1, 8, 3, padding=1),
            stages=nn.Sequential(block(8, 16), block(16, 16), nn.MaxPool2d(2), block(16, 32)),
            head=nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10)),
        ))
    return model.eval()


def check_nested_layer_name(name) -> CheckResult:
    """Exercise 04.4: the dotted name of the convolution in the last block of `stages`."""
    if _not_answered(name):
        return _missing("`layer_name`")
    if not isinstance(name, str):
        return report(False, "", "give the name as a string, such as 'stem'.")
    model = nested_exercise_model()
    modules = dict(model.named_modules())
    target = model.stages[-1].conv
    if "[" in name:
        return report(False, "", "names use dots between all their parts, numbered children included: no brackets.")
    if name.split(".")[0] in ("model", "nested", "self"):
        return report(False, "", "names start below the model itself: drop the first part.")
    if name not in modules or not name:
        return report(False, "", f"{name!r} is not a layer name of this model: list_layers(nested) prints them all.")
    module = modules[name]
    if module is target:
        return report(True, f"Right: {name!r}. Note that the MaxPool2d counts as a child of stages too.")
    if isinstance(module, torch.nn.Sequential) and target in list(module.children()):
        return report(False, "", "that names the whole block; you want the convolution inside it.")
    if isinstance(module, torch.nn.Conv2d):
        return report(False, "", "that is a convolution, but not the one in the LAST block of stages (children are "
                                 "numbered from 0, and every child counts).")
    return report(False, "", f"that names a {type(module).__name__}, not the convolution asked for.")


# --- 06 · Feature maps during training ------------------------------------------------------------------------------

def _dead_fraction_cases() -> list[torch.Tensor]:
    """Maps (N, C, H, W) where dead channels, zeros, and channels dead on one sample only are easy to tell apart."""
    cases = []
    for seed, channels in ((6, 8), (7, 12)):
        generator = torch.Generator().manual_seed(seed)
        maps = torch.randn(3, channels, 4, 4, generator=generator)
        maps[:, 0] = -torch.rand(3, 4, 4, generator=generator) - 0.1  # negative everywhere: dead
        maps[:, 1] = 0.0  # exactly zero: also never positive, dead
        maps[:, 2] = -1.0
        maps[2, 2, 3, 3] = 0.5  # positive once, on the last sample: alive (sparse)
        maps[0, 3] = -1.0  # dead on the first sample only: alive
        maps[1:, 3] = maps[1:, 3].abs() + 0.1
        if channels > 8:
            maps[:, 4:6] = -2.0  # two more dead channels in the second case
        cases.append(maps)
    return cases


def check_dead_fraction(function: Callable[[torch.Tensor], float]) -> CheckResult:
    """Exercise 06.1: dead_fraction(maps) -> the fraction of the channels of (N, C, H, W) maps never positive."""
    if _not_answered(function):
        return _missing("`dead_fraction`")
    for maps in _dead_fraction_cases():
        channels = maps.shape[1]
        never_positive = (maps <= 0).flatten(2).all(2)  # (N, C): not positive anywhere in that sample's map
        expected = float(never_positive.all(0).float().mean())
        result = _call(function, maps.clone())
        if isinstance(result, Exception):
            return report(False, "", f"your function raised {type(result).__name__}: {result}")
        number = _as_number(result)
        if number is None:
            return report(False, "", "return one number, a fraction (use .item() on a one-value tensor).")
        if abs(number - expected) < 1e-6:
            continue
        if abs(number - expected * channels) < 1e-6:
            return report(False, "", "that is a count of channels; give the fraction of the layer's channels.")
        if abs(number - 100 * expected) < 1e-4:
            return report(False, "", "give a fraction between 0 and 1, not a percentage.")
        if abs(number - float((maps <= 0).float().mean())) < 1e-6:
            return report(False, "", "that is the share of VALUES that are not positive; the question is about "
                                     "CHANNELS: a channel is dead when none of its values is positive.")
        if abs(number - float((maps == 0).transpose(0, 1).flatten(1).all(1).float().mean())) < 1e-6:
            return report(False, "", "maps captured before the ReLU are rarely exactly zero: a dead channel is one "
                                     "that is never POSITIVE (<= 0 everywhere), so the ReLU always outputs 0.")
        if abs(number - float(never_positive[0].float().mean())) < 1e-6 or \
                abs(number - float(never_positive.any(0).float().mean())) < 1e-6:
            return report(False, "", "a channel is dead only when it is never positive on ANY sample of the batch: "
                                     "one sample is not enough.")
        return report(False, "", "not the fraction of channels that are never positive on any sample at any "
                                 "position; channel_stats(maps).dead is a way to check yourself.")
    return report(True, "Right: a channel counts as dead only if no sample, at no position, makes it positive.")


def _label_cases() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(6)
    return [torch.randint(0, 10, (40,), generator=generator), torch.arange(29, -1, -1) % 10]


def check_class_probe(function: Callable[[torch.Tensor], object]) -> CheckResult:
    """Exercise 06.2: class_probe(labels) -> the index of the first sample of each class 0..9, in class order."""
    if _not_answered(function):
        return _missing("`class_probe`")
    for labels in _label_cases():
        if len(set(labels.tolist())) < 10:
            labels = torch.cat([labels, torch.arange(10)])
        expected = [int((labels == c).nonzero()[0]) for c in range(10)]
        result = _call(function, labels.clone())
        if isinstance(result, Exception):
            return report(False, "", f"your function raised {type(result).__name__}: {result}")
        try:
            indices = [int(i) for i in (result.tolist() if isinstance(result, torch.Tensor) else result)]
        except (TypeError, ValueError):
            return report(False, "", "return the 10 indices as a list (or a tensor) of ints.")
        if indices == expected:
            continue
        if len(indices) != 10:
            return report(False, "", f"got {len(indices)} indices; one per class, 10 in all.")
        if indices == list(range(10)) or indices == [int(labels[i]) for i in expected]:
            return report(False, "", "return the positions of the samples in the dataset (indices), not their labels.")
        if sorted(indices) == sorted(expected):
            return report(False, "", "the right samples in another order: the first index should be the first 0, "
                                     "then the first 1, and so on up to 9.")
        if [int(labels[i]) for i in indices if 0 <= i < len(labels)] == list(range(10)):
            return report(False, "", "one sample of each class, in the right order, but not the FIRST one of each.")
        return report(False, "", "not the index of the first sample of each class 0..9.")
    return report(True, "Right: ten indices, one per class, so every digit is watched during training.")


def _history(epochs: list[int], warned: list[int]) -> list[dict]:
    return [{"epoch": e, "loss": 1.0 / (e + 1), "warnings": ["conv2: 9 of 32 channels dead"] if e in warned else []}
            for e in epochs]


def check_first_alarm(function: Callable[[list[dict]], object]) -> CheckResult:
    """Exercise 06.3: first_alarm(history) -> the epoch of the first record with a warning; None when there is none."""
    if _not_answered(function):
        return _missing("`first_alarm`")
    cases = [(_history(list(range(6)), [2, 3, 4, 5]), 2, ""),
             (_history([0, 2, 4, 6, 8], [4, 6]), 4, "return the record's \"epoch\", not its position in the list "
                                                    "(this history was probed every 2 epochs)."),
             (_history(list(range(4)), []), None, "when no record has a warning, return None."),
             (_history(list(range(4)), [0, 1]), 0, "epoch 0 (before training) counts too; careful: 0 is false "
                                                   "in Python, so test `is None`, not truthiness.")]
    for history, expected, hint in cases:
        result = _call(function, [dict(record) for record in history])
        if isinstance(result, Exception):
            return report(False, "", f"your function raised {type(result).__name__}: {result}")
        if result is None or expected is None:
            if result is expected:
                continue
            if expected is None:
                return report(False, "", hint)
            return report(False, "", hint if expected == 0 else "you returned None for a history with warnings: "
                                                                "return the epoch of the first one.")
        number = _as_number(result)
        if number == expected:
            continue
        warned = [r["epoch"] for r in history if r["warnings"]]
        if warned and number == warned[-1]:
            return report(False, "", "that is the LAST epoch with a warning; the alarm should sound at the first.")
        return report(False, "", hint or "not the epoch of the first record whose \"warnings\" list is not empty.")
    return report(True, "Right: the first warned epoch, read from the record, and None for a healthy run.")


# --- 07 · Beyond feature maps --------------------------------------------------------------------------------------

def check_linear_saliency(function: Callable[[torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """Exercise 07.1: linear_saliency(weight, target) -> the (28, 28) saliency of class `target` for the linear
    classifier logits = weight @ x.flatten() + bias, weight of shape (10, 784)."""
    if _not_answered(function):
        return _missing("`linear_saliency`")
    weight = torch.randn(10, 784, generator=torch.Generator().manual_seed(7))
    for target in (3, 8):
        expected = weight[target].abs().reshape(28, 28)
        result = _call(function, weight.clone(), target)
        if isinstance(result, Exception):
            return report(False, "", f"your function raised {type(result).__name__}: {result}")
        result = torch.as_tensor(result).detach().float()
        if result.shape != (28, 28):
            return report(False, "", f"expected a (28, 28) map, got shape {tuple(result.shape)}: the rows of weight "
                                     "are the classes, and each row holds one value per pixel.")
        if torch.allclose(result, expected):
            continue
        if torch.allclose(result, weight[target].reshape(28, 28)):
            return report(False, "", "saliency is the SIZE of the gradient: take its absolute value.")
        if torch.allclose(result, expected.T):
            return report(False, "", "the pixels are transposed: flatten goes row by row, and reshape(28, 28) "
                                     "undoes it.")
        if torch.allclose(result, weight.abs().sum(0).reshape(28, 28)) or \
                torch.allclose(result, weight.abs().amax(0).reshape(28, 28)):
            return report(False, "", "only the target class's score is explained: use its row of weight alone.")
        return report(False, "", "not the saliency of the target class: what is d logits[target] / d x for a linear "
                                 "model?")
    return report(True, "Right: for a linear model the gradient is the weight row itself, the same for every input.")


def check_correlation(function: Callable[[torch.Tensor, torch.Tensor], float]) -> CheckResult:
    """Exercise 07.2: correlation(a, b) -> the Pearson correlation of two maps of the same shape, one number."""
    if _not_answered(function):
        return _missing("`correlation`")
    generator = torch.Generator().manual_seed(7)
    a = torch.rand(2, 28, 28, generator=generator)
    noise = torch.rand(2, 28, 28, generator=generator)
    for b in (3 * a + 2, -a, a + noise, noise):
        x, y = a.flatten().double() - a.double().mean(), b.flatten().double() - b.double().mean()
        expected = float((x * y).sum() / (x.norm() * y.norm()))
        result = _call(function, a.clone(), b.clone())
        if isinstance(result, Exception):
            return report(False, "", f"your function raised {type(result).__name__}: {result}")
        if isinstance(result, torch.Tensor) and result.numel() > 1:
            return report(False, "", f"got {result.numel()} numbers; flatten both maps and return ONE correlation.")
        number = _as_number(result)
        if number is None:
            return report(False, "", "return one number (use .item() on a one-value tensor).")
        if abs(number - expected) < 1e-4:
            continue
        cosine = float((a.flatten() * b.flatten()).sum() / (a.norm() * b.norm()))
        if abs(number - cosine) < 1e-4:
            return report(False, "", "that is the cosine similarity: subtract each map's mean first, so that a "
                                     "brightness offset does not count as similarity.")
        if abs(number - abs(expected)) < 1e-4:
            return report(False, "", "keep the sign: a map and its negative are perfectly ANTI-correlated (-1).")
        if not -1 - 1e-6 <= number <= 1 + 1e-6:
            return report(False, "", "a correlation lies between -1 and 1: divide the centred product by both norms "
                                     "(or both standard deviations with the same convention).")
        return report(False, "", "not the Pearson correlation of the two flattened maps.")
    return report(True, "Right: 1 for a scaled and shifted copy, -1 for the negative, near 0 for unrelated noise.")


class _NoCalls(torch.nn.MultiheadAttention):
    """A MultiheadAttention that may not be called: the exercise computes its weights by hand."""

    def forward(self, *args, **kwargs):
        raise RuntimeError("compute the weights from layer.in_proj_weight and layer.in_proj_bias; calling the "
                           "layer itself is not the exercise")


def check_attention_weights(function: Callable) -> CheckResult:
    """Exercise 07.3: attention_weights(layer, tokens) -> (N, L, L) self-attention weights of a one-head
    nn.MultiheadAttention(batch_first=True), computed from its projection weights."""
    if _not_answered(function):
        return _missing("`attention_weights`")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(7)
        layer = _NoCalls(8, num_heads=1, batch_first=True)
        torch.nn.init.normal_(layer.in_proj_bias, std=0.5)
        tokens = torch.randn(2, 5, 8)
    with torch.no_grad():
        expected = torch.nn.MultiheadAttention.forward(layer, tokens, tokens, tokens, need_weights=True)[1]
        w_q, w_k, _ = layer.in_proj_weight.chunk(3)
        b_q, b_k, _ = layer.in_proj_bias.chunk(3)
        q, k = tokens @ w_q.T + b_q, tokens @ w_k.T + b_k
        scores = q @ k.transpose(1, 2)
    wrong = {
        "divide the scores by sqrt(d), the size of a query (here 8), before the softmax.": scores.softmax(-1),
        "each row (one query) must sum to 1: take the softmax over the keys, the last dimension.":
            (scores / 8**0.5).softmax(1),
        "rows are the queries and columns the keys: softmax(Q K^T / sqrt(d)), not K Q^T.":
            (scores.transpose(1, 2) / 8**0.5).softmax(-1),
        "add the projection biases (layer.in_proj_bias) to the queries and keys.":
            ((tokens @ w_q.T) @ (tokens @ w_k.T).transpose(1, 2) / 8**0.5).softmax(-1),
    }
    result = _call(function, layer, tokens.clone())
    if isinstance(result, Exception):
        return report(False, "", f"your function raised {type(result).__name__}: {result}")
    result = torch.as_tensor(result).detach().float()
    if result.shape != expected.shape:
        return report(False, "", f"expected weights of shape {tuple(expected.shape)} (samples, queries, keys), got "
                                 f"{tuple(result.shape)}.")
    if torch.allclose(result, expected, atol=1e-5):
        return report(True, "Right: softmax(Q K^T / sqrt(d)) from the layer's own projections, the same numbers "
                            "need_weights=True returns.")
    for hint, weights in wrong.items():
        if torch.allclose(result, weights, atol=1e-5):
            return report(False, "", hint)
    return report(False, "", "not the attention weights: queries and keys are the first two thirds of "
                             "layer.in_proj_weight (and bias); then softmax(Q K^T / sqrt(d)) over the keys.")
