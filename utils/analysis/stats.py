"""Per-channel statistics of feature maps: mean, spread, how often a channel fires, and which channels look unhealthy.

A feature map captured at a convolution (`capture`, `get_feature_maps`) is the layer's output *before* the ReLU
that follows it in SimpleCNN's `forward`, so its values are signed. What matters for the rest of the network is
what the ReLU lets through, which is why the statistics below count a value as "zero" when it is not positive:

- `frac_zero`: the fraction of values <= 0, that is the fraction the ReLU sets to zero. For maps captured after a
  ReLU this is exactly the fraction of zeros.
- dead: the channel is never positive, on any sample and at any position (`frac_zero == 1`): the ReLU after it
  always outputs zero, so nothing it computes reaches the next layer and no gradient flows back through it.
- sparse (`ChannelStats.sparse`): not dead, but zero at least `threshold` of the time (default 90%): it fires
  at a few places only. Often healthy (a detector of a rare stroke); many sparse channels in a layer are not.
- saturated (`ChannelStats.saturated`): on (positive) and nearly constant, with a standard deviation below `rtol`
  (default 5%) of its mean: it says about the same thing for every input and position, so it carries almost no
  information, and the ReLU after it acts as a plain linear pass-through.

One batch at once, or accumulated over many batches without keeping them (each batch is reduced to a few numbers
per channel, then combined exactly):

>>> maps = torch.tensor([[[[1.0, -1.0]], [[-2.0, -3.0]]]])  # (N=1, C=2, H=1, W=2)
>>> stats = channel_stats(maps)
>>> stats.dead, stats["frac_zero"]
(tensor([False,  True]), tensor([0.5000, 1.0000]))
>>> channel_stats([maps, maps]).mean  # an iterable of batches: the same as one batch of both
tensor([ 0.0000, -2.5000])
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import torch

__all__ = ["channel_stats", "ChannelStats", "ChannelStatsAccumulator", "SPARSE_THRESHOLD", "SATURATED_RTOL",
           "health_warnings", "MAX_DEAD", "MAX_SPARSE"]

SPARSE_THRESHOLD = 0.9  # sparse: zero (not positive) at least this fraction of the time
SATURATED_RTOL = 0.05  # saturated: positive mean and std below this fraction of it

_FIELDS = ("mean", "std", "min", "max", "frac_zero", "dead")


@dataclass(frozen=True, eq=False)
class ChannelStats(Mapping):
    """Statistics of each channel of a layer's maps over every sample and position, as CPU tensors of length C.

    `mean`, `std` (population standard deviation, as `x.std(correction=0)`), `min`, `max`, `frac_zero` (fraction of
    values <= 0) and the boolean `dead` (never positive); `samples` and `values` count the samples and the values
    per channel (N x H x W) they were computed over. Read a field as `stats.dead` or `stats["dead"]`.

    >>> stats = channel_stats(torch.zeros(4, 3, 2, 2))
    >>> list(stats), stats.samples, stats.values
    (['mean', 'std', 'min', 'max', 'frac_zero', 'dead'], 4, 16)
    >>> stats.health()
    {'dead': [0, 1, 2], 'sparse': [], 'saturated': []}
    """

    mean: torch.Tensor
    std: torch.Tensor
    min: torch.Tensor
    max: torch.Tensor
    frac_zero: torch.Tensor
    dead: torch.Tensor
    samples: int
    values: int  # type: ignore[assignment]  # a count of values per channel; Mapping.values() stays reachable as keys

    __eq__ = object.__eq__  # Mapping's __eq__ would compare tensors elementwise
    __hash__ = object.__hash__

    def __getitem__(self, key: str) -> torch.Tensor:
        if key not in _FIELDS:
            raise KeyError(f"{key!r} is not a channel statistic; the statistics are {', '.join(_FIELDS)}.")
        return getattr(self, key)

    def __iter__(self) -> Iterator[str]:
        return iter(_FIELDS)

    def __len__(self) -> int:
        return len(_FIELDS)

    @property
    def channels(self) -> int:
        """The number of channels C."""
        return len(self.mean)

    def sparse(self, threshold: float = SPARSE_THRESHOLD) -> torch.Tensor:
        """Boolean per channel: not dead, but zero (not positive) at least `threshold` of the time.

        >>> channel_stats(torch.tensor([[[[1.0] + [-1.0] * 19], [[1.0] * 20]]])).sparse()
        tensor([ True, False])
        """
        return (self.frac_zero >= threshold) & ~self.dead

    def saturated(self, rtol: float = SATURATED_RTOL) -> torch.Tensor:
        """Boolean per channel: positive on average and nearly constant (std below `rtol` times the mean).

        >>> channel_stats(torch.tensor([[[[5.0, 5.1]], [[0.0, 5.0]]]])).saturated()
        tensor([ True, False])
        """
        return (self.mean > 0) & (self.std <= rtol * self.mean) & ~self.dead

    def health(self, sparse_threshold: float = SPARSE_THRESHOLD,
               saturated_rtol: float = SATURATED_RTOL) -> dict[str, list[int]]:
        """The indices of the dead, sparse and saturated channels (each channel in at most one list).

        >>> channel_stats(torch.tensor([[[[-1.0]], [[2.0]]]])).health()
        {'dead': [0], 'sparse': [], 'saturated': [1]}
        """
        return {"dead": _indices(self.dead), "sparse": _indices(self.sparse(sparse_threshold)),
                "saturated": _indices(self.saturated(saturated_rtol))}

    def summary(self, name: str = "", **thresholds: float) -> str:
        """One line: how many channels, over how many samples, and how many of them are dead, sparse, saturated.

        >>> channel_stats(torch.tensor([[[[-1.0]], [[2.0]]]])).summary("conv1")
        'conv1: 2 channels over 1 sample: 1 dead, 0 sparse, 1 saturated'
        """
        counts = ", ".join(f"{len(indices)} {kind}" for kind, indices in self.health(**thresholds).items())
        plural = "" if self.samples == 1 else "s"
        return f"{name + ': ' if name else ''}{self.channels} channels over {self.samples} sample{plural}: {counts}"

    def __repr__(self) -> str:
        return f"ChannelStats({self.summary()})"


def _indices(mask: torch.Tensor) -> list[int]:
    return mask.nonzero().flatten().tolist()


class ChannelStatsAccumulator:
    """Channel statistics accumulated batch by batch, for maps too many to hold at once (a whole test set).

    Each batch is reduced on its own device to a few numbers per channel and combined on the CPU in float64
    (Chan's parallel formula for the variance), so the result equals `channel_stats` of all the batches
    concatenated, up to rounding.

    >>> acc = ChannelStatsAccumulator()
    >>> for batch in torch.arange(8.0).reshape(4, 2, 1, 1, 1):  # 4 batches of shape (2, 1, 1, 1)
    ...     acc.update(batch)
    >>> acc.result().mean, acc.result().samples
    (tensor([3.5000]), 8)
    """

    def __init__(self) -> None:
        self._channels: int | None = None
        self._samples = 0
        self._count = 0
        empty = torch.zeros(0, dtype=torch.float64)  # replaced by the first batch's values
        self._mean = self._m2 = self._min = self._max = self._nonpositive = empty

    def update(self, maps: torch.Tensor) -> None:
        """Add one batch of maps, shape (N, C, H, W)."""
        maps = _check_maps(maps, self._channels)
        n, channels = maps.shape[:2]
        if n == 0:
            return
        # float64: float32 sums of squares overflow for values beyond about 1e19 (std would be inf); on the CPU,
        # since MPS has no float64
        per_channel = maps.detach().to("cpu", torch.float64).transpose(0, 1).reshape(channels, -1)  # (C, N*H*W)
        count = per_channel.shape[1]
        mean = per_channel.mean(1)
        m2 = ((per_channel - mean[:, None]) ** 2).sum(1)
        batch = {"mean": mean, "m2": m2, "min": per_channel.amin(1), "max": per_channel.amax(1),
                 "nonpositive": (per_channel <= 0).sum(1)}
        batch = {key: value.double() for key, value in batch.items()}
        if self._channels is None:
            self._channels = channels
            self._mean, self._m2 = batch["mean"], batch["m2"]
            self._min, self._max, self._nonpositive = batch["min"], batch["max"], batch["nonpositive"]
        else:
            total = self._count + count
            delta = batch["mean"] - self._mean
            self._mean = self._mean + delta * (count / total)
            self._m2 = self._m2 + batch["m2"] + delta**2 * (self._count * count / total)
            self._min = torch.minimum(self._min, batch["min"])
            self._max = torch.maximum(self._max, batch["max"])
            self._nonpositive = self._nonpositive + batch["nonpositive"]
        self._count += count
        self._samples += n

    def result(self) -> ChannelStats:
        """The statistics of every batch added so far."""
        if self._count == 0:
            raise ValueError("No feature maps yet: call update(maps) with at least one non-empty (N, C, H, W) "
                             "batch before asking for the result.")
        frac_zero = self._nonpositive / self._count
        return ChannelStats(mean=self._mean.float(), std=(self._m2 / self._count).sqrt().float(),
                            min=self._min.float(), max=self._max.float(), frac_zero=frac_zero.float(),
                            dead=self._max <= 0, samples=self._samples, values=self._count)


def channel_stats(maps: torch.Tensor | Iterable[torch.Tensor]) -> ChannelStats:
    """Per-channel statistics of feature maps of shape (N, C, H, W), over every sample and position.

    `maps` is one tensor, or an iterable of such tensors (batches of the same layer, for example a generator over
    a DataLoader), accumulated one at a time without keeping them. For conv outputs captured before the ReLU,
    "zero" means "not positive" and `dead` means "never positive": see the module's docstring.

    >>> stats = channel_stats(torch.randn(8, 16, 24, 24) - 10)  # every value negative
    >>> bool(stats.dead.all()), stats.frac_zero.shape
    (True, torch.Size([16]))
    """
    accumulator = ChannelStatsAccumulator()
    if isinstance(maps, torch.Tensor):
        accumulator.update(maps)
        return accumulator.result()
    if isinstance(maps, Mapping) or not isinstance(maps, Iterable):
        what = "a mapping of layers (pick one: maps['conv1'])" if isinstance(maps, Mapping) else type(maps).__name__
        raise TypeError(f"channel_stats takes a tensor of shape (N, C, H, W) or an iterable of such batches, "
                        f"not {what}.")
    for batch in maps:
        accumulator.update(batch)
    return accumulator.result()


def _check_maps(maps: torch.Tensor, channels: int | None) -> torch.Tensor:
    if not isinstance(maps, torch.Tensor):
        raise TypeError(f"Expected feature maps as a tensor of shape (N, C, H, W), got {type(maps).__name__}.")
    if maps.dim() != 4:
        hint = {3: " If it is one sample's (C, H, W) maps, add the batch dimension: maps.unsqueeze(0).",
                2: " A fully connected layer's (N, features) output has no spatial maps; it is not a feature map."}
        raise ValueError(f"Expected feature maps of shape (N, C, H, W), got {maps.dim()} dimensions "
                         f"{tuple(maps.shape)}.{hint.get(maps.dim(), '')}")
    if channels is not None and maps.shape[1] != channels:
        raise ValueError(f"This batch has {maps.shape[1]} channels but the earlier ones had {channels}: every batch "
                         f"must come from the same layer.")
    if maps.is_quantized:  # a quantized model's maps (quint8): their real values are what the statistics need
        maps = maps.dequantize()
    if maps.is_complex() or maps.dtype == torch.bool:
        raise TypeError(f"Expected real-valued feature maps, got dtype {maps.dtype}.")
    finite = torch.isfinite(maps)
    if not bool(finite.all()):
        first = tuple(int(i) for i in (~finite).nonzero()[0])
        raise ValueError(
            f"The feature maps have {int((~finite).sum())} value(s) that are NaN or infinite (the first at index "
            f"{first}), so their statistics would be NaN. A NaN usually means the training diverged (look at the "
            "loss); torch.nan_to_num(maps) replaces them if you want statistics of the rest anyway.")
    if maps.shape[0] and maps[0].numel() == 0:
        raise ValueError(f"Feature maps of shape {tuple(maps.shape)} have no values per sample.")
    return maps


# --- Health check for training runs (notebook 06) ------------------------------------------------------------------

MAX_DEAD = 0.25  # health_warnings: more than this fraction of a layer's channels dead is a warning
MAX_SPARSE = 0.5  # ... and more than this fraction dead or sparse (barely firing)


def health_warnings(maps: Mapping[str, torch.Tensor], *, max_dead: float = MAX_DEAD,
                    max_sparse: float = MAX_SPARSE, sparse_threshold: float = SPARSE_THRESHOLD) -> list[str]:
    """One line for each layer whose channels are dying; an empty list when every layer looks healthy.

    `maps` maps layer names to (N, C, H, W) feature maps, such as `get_feature_maps(model, probe)` on a fixed
    probe batch after every epoch. A layer is flagged when more than `max_dead` of its channels are dead (never
    positive on the probe batch), or when more than `max_sparse` of them are dead or sparse (zero at least
    `sparse_threshold` of the time). A few dead channels are normal in a trained network; a quarter of a layer is
    capacity thrown away, and a dead channel passes no gradient, so it rarely comes back.

    >>> probe = {"conv1": torch.randn(8, 16, 6, 6), "conv2": torch.randn(8, 32, 2, 2) - 10}
    >>> health_warnings(probe)
    ['conv2: 32 of 32 channels dead (100%, limit 25%)']
    >>> if health_warnings(probe):  # in a training loop: stop, lower the learning rate, or just log it
    ...     pass
    """
    if not isinstance(maps, Mapping):
        raise TypeError(f"health_warnings takes a mapping of layer names to (N, C, H, W) maps, such as "
                        f"get_feature_maps(model, probe), not {type(maps).__name__}.")
    warnings = []
    for name, layer_maps in maps.items():
        stats = channel_stats(layer_maps)
        dead = int(stats.dead.sum())
        weak = dead + int(stats.sparse(sparse_threshold).sum())
        if dead > max_dead * stats.channels:
            warnings.append(f"{name}: {dead} of {stats.channels} channels dead "
                            f"({dead / stats.channels:.0%}, limit {max_dead:.0%})")
        elif weak > max_sparse * stats.channels:
            warnings.append(f"{name}: {weak} of {stats.channels} channels dead or sparse "
                            f"({weak / stats.channels:.0%}, limit {max_sparse:.0%})")
    return warnings
