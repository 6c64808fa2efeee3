"""Feature maps scaled for display (`normalize_maps`), and the checks every drawing helper makes of its values.

`utils.plot.maps` (feature maps), `utils.plot.filters` (convolution filters) and the widgets draw through these: a
tensor, array or nested list becomes a detached tensor (`as_tensor`), empty input and NaN or infinite values are refused
with the fix (`check_not_empty`, `check_finite`), and the scaling modes and percentile clipping are checked in one
place (`check_mode`, `check_clip`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["MODES", "as_index", "as_tensor", "check_clip", "check_finite", "check_mode", "check_not_empty",
           "float_epsilon", "normalize_maps", "row_percentiles", "scale_rows", "to_numpy"]

MODES = ("layer", "channel", "symmetric")


# --- Normalization -----------------------------------------------------------------------------------------------

def normalize_maps(maps: torch.Tensor | np.ndarray, mode: str = "layer",
                   clip: tuple[float, float] | None = None) -> torch.Tensor:
    """Feature maps scaled for display, in a new tensor: `maps` is never changed, and no NaN or inf comes out.

    `maps` is a tensor or array of shape (H, W), (C, H, W) or (N, C, H, W). Modes and what they return:

    - "layer": one scale per sample over all of its channels, `(x - min) / (max - min)`, in [0, 1]. For
      (N, C, H, W) every sample gets its own min and max; inside a sample the channels keep their relative
      strength, so a weak channel looks weak. (C, H, W) and (H, W) are one sample.
    - "channel": each (H, W) map on its own, `(x - min) / (max - min)`, in [0, 1]. Weak channels become visible;
      how strong they are compared with the others is lost.
    - "symmetric": one scale per sample like "layer", but `x / max|x|`, in [-1, 1]: 0 stays 0 and every sign is
      kept. For signed values (a convolution before its ReLU, filters), drawn with a diverging colormap.

    A map (or sample) with no variation, whose max - min is below 4 float epsilons of its largest magnitude (a
    dead channel of zeros, a constant one), becomes zeros in "layer" and "channel" mode instead of 0 / 0 = NaN.
    In "symmetric" mode only an all-zero sample has no scale; it stays zeros.

    `clip=(low, high)` first clips every group (the same groups as the scale: sample or map) at its low-th and
    high-th percentiles (0 <= low < high <= 100 and high > 1, linear interpolation as in `numpy.percentile`), so
    that a few extreme values do not squash all the others into one colour; then the mode scales the clipped
    values. (A `high` of 1 or less is refused: it is almost always a fraction meant as a percentile.)

    Returns float32 (float64 for float64 input), same shape, same device. Raises ValueError for another rank, an
    empty tensor, an unknown mode, a bad `clip`, or values that are NaN or infinite (it says where).

    >>> normalize_maps(torch.tensor([[0.0, 2.0], [4.0, 8.0]])).tolist()
    [[0.0, 0.25], [0.5, 1.0]]
    >>> normalize_maps(torch.tensor([[-2.0, 1.0]]), "symmetric").tolist()
    [[-1.0, 0.5]]
    >>> normalize_maps(torch.zeros(3, 4, 4), "channel").abs().max().item()  # constant maps: zeros, not NaN
    0.0
    """
    x = as_tensor(maps, "maps")
    if x.dim() not in (2, 3, 4):
        raise ValueError(f"normalize_maps wants maps of shape (H, W), (C, H, W) or (N, C, H, W); got shape "
                         f"{tuple(x.shape)}.")
    check_mode(mode)
    check_not_empty(x, "maps")
    values = to_numpy(x)
    check_finite(values, "maps")
    rows = x.shape[0] if x.dim() == 4 else 1
    if mode == "channel":
        rows = math.prod(x.shape[:-2])
    scaled = scale_rows(values.reshape(rows, -1), mode, clip, float_epsilon(x.dtype)).reshape(values.shape)
    return torch.from_numpy(scaled).to(x.device)


# The arithmetic runs in NumPy on the CPU: display-sized maps are small, and torch's thread pool costs more
# than the work for them (tens of milliseconds on a busy 2-core machine, for 64 maps of 32x32).

def to_numpy(x: torch.Tensor) -> np.ndarray:
    """x on the CPU as a NumPy array of float32 (float64 kept); a view of x where possible, never written to.

    >>> to_numpy(torch.tensor([1, 2])).dtype, to_numpy(torch.zeros(1, dtype=torch.float64)).dtype
    (dtype('float32'), dtype('float64'))
    """
    x = x.detach().cpu()
    return x.numpy() if x.dtype in (torch.float32, torch.float64) else x.float().numpy()


def float_epsilon(dtype: torch.dtype) -> float:
    """The machine epsilon of a floating dtype; float32's for integer and boolean dtypes (drawn as float32).

    >>> float_epsilon(torch.float32) == float_epsilon(torch.uint8) > float_epsilon(torch.float64)
    True
    """
    return torch.finfo(dtype).eps if dtype.is_floating_point else torch.finfo(torch.float32).eps


def scale_rows(groups: np.ndarray, mode: str, clip: tuple[float, float] | None, eps: float) -> np.ndarray:
    """Each row of `groups` clipped (if asked), then scaled: "symmetric" to [-1, 1], the others to [0, 1].

    >>> scale_rows(np.array([[1.0, 3.0], [-2.0, 1.0]]), "symmetric", None, 1e-7).tolist()
    [[0.3333333333333333, 1.0], [-1.0, 0.5]]
    """
    if clip is not None:
        low, high = row_percentiles(groups, clip)
        groups = np.clip(groups, low, high)
    magnitude = np.abs(groups).max(axis=1, keepdims=True)
    y = groups / np.where(magnitude > 0, magnitude, 1)  # first to [-1, 1]: no overflow in max - min below
    if mode == "symmetric":
        return np.clip(y, -1, 1).astype(groups.dtype, copy=False)
    low, high = y.min(axis=1, keepdims=True), y.max(axis=1, keepdims=True)
    flat = (high - low) <= 4 * eps  # max|y| is 1 (or the row is all zeros): a tolerance relative to the row
    scaled = np.where(flat, 0, (y - low) / np.where(flat, 1, high - low))
    return np.clip(scaled, 0, 1).astype(groups.dtype, copy=False)


def row_percentiles(groups: np.ndarray, clip: object) -> tuple[np.ndarray, np.ndarray]:
    """The low-th and high-th percentiles of every row, as columns (numpy's default, linear interpolation).

    >>> [column.ravel().tolist() for column in row_percentiles(np.arange(101.0)[None], (5, 95))]
    [[5.0], [95.0]]
    """
    low, high = np.percentile(groups, check_clip(clip), axis=1, keepdims=True)
    return low.astype(groups.dtype), high.astype(groups.dtype)


# --- Input checks ------------------------------------------------------------------------------------------------

def as_tensor(maps: object, name: str) -> torch.Tensor:
    """maps as a detached tensor (numpy arrays and nested lists too); booleans become 0.0 / 1.0.

    >>> as_tensor([[True, False]], "maps")
    tensor([[1., 0.]])
    """
    if isinstance(maps, Mapping):
        keys = [repr(k) for k in list(maps)[:4]]
        example = f", e.g. {name}[{keys[0]}]" if keys else ""
        raise TypeError(f"{name} is a mapping ({', '.join(keys)}): pass one layer's tensor{example}.")
    if isinstance(maps, torch.Tensor):
        t = maps.detach()
    else:
        try:
            t = torch.as_tensor(np.asarray(maps))
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"{name} must be a tensor or an array of numbers, not {type(maps).__name__}.") from error
    if t.is_quantized:  # a quantized model's maps (quint8): drawing needs only their real values
        t = t.dequantize()
    if t.is_complex():
        raise ValueError(f"{name} is complex; draw its magnitude, {name}.abs(), or its real part.")
    if t.dtype == torch.bool:
        t = t.float()
    return t


def check_not_empty(x: torch.Tensor | np.ndarray, name: str) -> None:
    """ValueError for an array with no element, which has nothing to draw.

    >>> check_not_empty(torch.zeros(0, 4), "maps")
    Traceback (most recent call last):
    ValueError: maps is empty (shape (0, 4)): there is nothing to draw.
    """
    if (x.numel() if isinstance(x, torch.Tensor) else x.size) == 0:
        raise ValueError(f"{name} is empty (shape {tuple(x.shape)}): there is nothing to draw.")


def check_finite(x: np.ndarray, name: str) -> None:
    """ValueError naming how many values are NaN or infinite and where the first is; they have no colour.

    >>> check_finite(np.array([0.0, np.nan]), "maps")
    Traceback (most recent call last):
    ValueError: maps has 1 value(s) that are NaN or infinite (the first at index (1,)), ...
    """
    finite = np.isfinite(x)
    if not finite.all():
        first = tuple(int(i) for i in np.argwhere(~finite)[0])
        raise ValueError(
            f"{name} has {int((~finite).sum())} value(s) that are NaN or infinite (the first at index {first}), "
            "and such values have no colour. A NaN usually means the training diverged (look at the loss); if you only "
            f"want a picture, torch.nan_to_num({name}) replaces them.")


def check_mode(mode: object) -> None:
    """ValueError for a scaling mode that is not one of MODES, listing them with what each does.

    >>> check_mode("symmetric")
    """
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not a scaling mode: use 'layer' (one scale per sample), 'channel' (one "
                         "scale per map) or 'symmetric' (signed values, 0 stays 0).")


def check_clip(clip: Any) -> tuple[float, float]:
    """`clip` as (low, high) percentiles, or a ValueError that shows the right form (fractions are refused).

    >>> check_clip([1, 99])
    (1.0, 99.0)
    """
    example = "clip=(1, 99) clips at the 1st and 99th percentiles"
    try:
        low, high = (float(v) for v in clip)
    except (TypeError, ValueError):
        raise ValueError(f"clip={clip!r} must be a pair of percentiles (low, high); {example}.") from None
    if not (0 <= low < high <= 100):
        raise ValueError(f"clip={clip!r}: need 0 <= low < high <= 100; {example}.")
    if high <= 1:  # clipping at the 1st percentile or lower would paint almost everything in one colour
        raise ValueError(f"clip={clip!r} looks like fractions: percentiles go up to 100, they are not fractions; "
                         f"{example}.")
    return low, high


def as_index(value: Any, name: str) -> int:
    """value as a Python int (numpy and 0-d tensor integers too); bools and floats are refused.

    >>> as_index(np.int64(3), "sample"), as_index(torch.tensor(2), "sample")
    (3, 2)
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, not a bool.")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, not {type(value).__name__} ({value!r}).") from None

