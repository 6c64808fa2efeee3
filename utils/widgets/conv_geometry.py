"""The arithmetic behind the convolution playground, without any widget: output sizes, kernels typed as text, the
preset kernels, and the check that a setting (stride, padding, dilation, kernel) fits the image.

>>> Setting("digit", parse_kernel(format_kernel(PRESETS["sharpen"])), stride=2, padding=1, dilation=1).check(28, 28)
(14, 14)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

__all__ = ["MAX_KERNEL", "PRESETS", "PlaygroundError", "Setting", "as_picture", "format_kernel", "kernel_shape",
           "output_size", "parse_kernel", "size_formula"]

MAX_KERNEL = 7  # rows or columns a typed kernel may have
_SOBEL = [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]
PRESETS: dict[str, list[list[float]]] = {
    "vertical edges (Sobel)": _SOBEL,
    "horizontal edges (Sobel)": [list(row) for row in zip(*_SOBEL)],
    "blur 3x3 (average)": [[1 / 9] * 3 for _ in range(3)],
    "blur 5x5 (binomial)": [[a * b / 256 for b in (1, 4, 6, 4, 1)] for a in (1, 4, 6, 4, 1)],
    "sharpen": [[0.0, -1.0, 0.0], [-1.0, 5.0, -1.0], [0.0, -1.0, 0.0]],
    "identity": [[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]],
}


class PlaygroundError(ValueError):
    """A setting the convolution cannot take; the message says why and what to change."""


def output_size(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """Output size along one dimension, as nn.Conv2d computes it.

    >>> output_size(28, 5), output_size(28, 3, stride=2, padding=1), output_size(28, 3, dilation=2)
    (24, 14, 24)
    """
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def parse_kernel(text: str) -> torch.Tensor:
    """A kernel typed as rows of numbers (one row a line, or rows separated by ';'), as a 2-D float tensor.

    >>> parse_kernel("1 0 -1; 2 0 -2; 1 0 -1").shape
    torch.Size([3, 3])
    """
    rows = [row for row in re.split(r"[;\n]", text) if row.strip()]
    try:
        numbers = [[float(value) for value in re.split(r"[,\s]+", row.strip())] for row in rows]
    except ValueError as error:
        raise PlaygroundError(f"kernel: {error}; type numbers only, one row a line (or rows separated by ';')."
                              ) from None
    if not numbers or len({len(row) for row in numbers}) != 1:
        raise PlaygroundError("kernel: every row needs the same number of values, e.g. '1 0 -1; 2 0 -2; 1 0 -1'.")
    if len(numbers) > MAX_KERNEL or len(numbers[0]) > MAX_KERNEL:
        raise PlaygroundError(f"kernel: at most {MAX_KERNEL} rows of {MAX_KERNEL} values here.")
    kernel = torch.tensor(numbers)
    if not torch.isfinite(kernel).all():
        raise PlaygroundError("kernel: every value must be a finite number.")
    return kernel


@dataclass(frozen=True)
class Setting:
    """One view of the playground: image name, kernel, stride, padding, dilation, output position (row, column)."""

    image: str
    kernel: torch.Tensor
    stride: int
    padding: int
    dilation: int
    row: int = 0
    col: int = 0

    def check(self, height: int, width: int) -> tuple[int, int]:
        """The output's (rows, columns), or a PlaygroundError that says why this setting is impossible."""
        if self.stride < 1:
            raise PlaygroundError(f"stride {self.stride}: the kernel must move at least 1 pixel between positions.")
        if self.dilation < 1:
            raise PlaygroundError(f"dilation {self.dilation}: taps must be at least 1 pixel apart (1 = no gaps).")
        if self.padding < 0:
            raise PlaygroundError(f"padding {self.padding}: padding adds rows and columns, it cannot be negative.")
        kh, kw = self.kernel.shape
        span_h, span_w = self.dilation * (kh - 1) + 1, self.dilation * (kw - 1) + 1
        padded_h, padded_w = height + 2 * self.padding, width + 2 * self.padding
        if span_h > padded_h or span_w > padded_w:
            raise PlaygroundError(
                f"the kernel spans {span_h}x{span_w} pixels ({kh}x{kw} taps, dilation {self.dilation}) but the padded "
                f"input is only {padded_h}x{padded_w}: it fits nowhere. Lower the dilation or add padding.")
        return (output_size(height, kh, self.stride, self.padding, self.dilation),
                output_size(width, kw, self.stride, self.padding, self.dilation))


def size_formula(n: int, k: int, s: int, p: int, d: int) -> str:
    """nn.Conv2d's output-size formula filled in with size n, kernel k, stride s, padding p and dilation d.

    >>> size_formula(28, 3, 2, 1, 1)
    'floor((28 + 2·1 − 1·(3 − 1) − 1) / 2) + 1 = 14'
    """
    top = n + 2 * p - d * (k - 1) - 1
    result = f"{top // s + 1}" if s >= 1 and top >= 0 else "none"
    return f"floor(({n} + 2·{p} − {d}·({k} − 1) − 1) / {s}) + 1 = {result}"


def format_kernel(rows: list[list[float]]) -> str:
    """Rows of weights as the text `parse_kernel` reads: one row a line, 4 significant digits.

    >>> print(format_kernel([[1 / 9, 0.0], [-2.0, 1.0]]))
    0.1111 0
    -2 1
    """
    return "\n".join(" ".join(f"{value:.4g}" for value in row) for row in rows)


def kernel_shape(text: str) -> tuple[int, int]:
    """The (rows, columns) of a typed kernel; (0, 0) for text that is not one.

    >>> kernel_shape("1 0 -1; 2 0 -2"), kernel_shape("1 2; 3")
    ((2, 3), (0, 0))
    """
    try:
        return tuple(parse_kernel(text).shape)  # type: ignore[return-value]
    except PlaygroundError:
        return 0, 0


def as_picture(name: str, image: object) -> torch.Tensor:
    """`image` as a grey (H, W) float tensor on the CPU, or a ValueError that names it and says what to give.

    >>> as_picture("digit", torch.zeros(1, 28, 28)).shape
    torch.Size([28, 28])
    """
    picture = torch.as_tensor(image, dtype=torch.float32).detach().cpu()
    if picture.dim() == 3 and picture.shape[0] == 1:
        picture = picture[0]
    if picture.dim() != 2 or min(picture.shape) < 1:
        raise ValueError(f"conv_playground: image {name!r} has shape {tuple(picture.shape)}; give a grey image as "
                         "(H, W) or (1, H, W) (for a colour photo, average its channels first).")
    return picture

