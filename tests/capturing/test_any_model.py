"""Models nobody here wrote: compiled, TorchScript, checkpointed, quantized, detection-like, 1-D, torchvision's."""

from __future__ import annotations

import warnings

import pytest
import torch
import torchvision
from torch import nn
from torch.ao import quantization as tq
from torch.utils.checkpoint import checkpoint

from utils import (
    LayerNotRunError,
    capture,
    channel_stats,
    get_feature_maps,
    grad_cam,
    list_layers,
    normalize_maps,
    plot_feature_maps,
)
from utils.capturing.guards import hook_count
from utils.models import SimpleCNN


@pytest.fixture(scope="module")
def model() -> nn.Module:
    torch.manual_seed(0)
    return SimpleCNN().eval()


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(1))


def _plain_convs(model: nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every conv output from hooks written here by hand: the oracle."""
    out: dict[str, torch.Tensor] = {}
    handles = [m.register_forward_hook(lambda m, a, o, n=n: out.__setitem__(n, o.detach().clone()))
               for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return out


# --- torch.compile ------------------------------------------------------------------------------------------------

def test_a_compiled_model_that_already_ran_is_captured_under_both_names(model, x):
    compiled = torch.compile(model, backend="eager")  # dynamo as in real use; the eager backend keeps it quick
    with torch.no_grad():
        compiled(x)  # compiled once: hooks added now are invisible to the compiled code
    expected = _plain_convs(model, x)
    maps = get_feature_maps(compiled, x)
    assert list(maps) == ["conv1", "conv2"]
    for name in ("conv1", "conv2"):
        assert torch.allclose(maps[name], expected[name], atol=1e-6)
        assert maps[f"_orig_mod.{name}"] is maps[name]
    assert list(get_feature_maps(compiled, x, ["_orig_mod.conv2"])) == ["conv2"]
    compiled_forward = compiled.forward
    with capture(compiled, ["conv1"]) as captured, torch.no_grad():
        out = compiled(x)
    assert torch.allclose(captured["conv1"], expected["conv1"], atol=1e-6)
    assert torch.allclose(out, model(x), atol=1e-5)
    assert compiled.forward is compiled_forward  # compiled again after the block
    assert hook_count(model) == 0
    assert list_layers(compiled, x).names[:2] == ["conv1", "pool"]


def test_capturing_the_original_while_its_compiled_twin_runs_names_the_twin(x):
    model = SimpleCNN().eval()
    compiled = torch.compile(model, backend="eager")
    with torch.no_grad():
        compiled(x)  # compiled once: a hook added to model now is invisible to the twin's compiled code
        with capture(model, ["conv1"]) as maps:
            compiled(x)
    with pytest.raises(LayerNotRunError, match="torch.compile'd twin.*capture\\(compiled, ...\\)"):
        maps["conv1"]
    with torch.no_grad(), capture(SimpleCNN(), ["conv1"]) as alone:
        pass
    with pytest.raises(LayerNotRunError, match="forward\\(\\) never calls it") as error:
        alone["conv1"]
    assert "twin" not in str(error.value), "a model without a twin gets the usual causes"


@pytest.mark.parametrize("convert", ["script", "trace"])
def test_grad_cam_on_torchscript_says_what_get_feature_maps_says(model, x, convert):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated in torch 2.14
        scripted = torch.jit.script(model) if convert == "script" else torch.jit.trace(model, x)
    messages = []
    for call in (lambda: get_feature_maps(scripted, x), lambda: grad_cam(scripted, x, "conv2")):
        with pytest.raises(TypeError, match=f"cannot hook a TorchScript model \\(torch.jit.{convert}\\)") as error:
            call()
        messages.append(str(error.value).split(" cannot hook", 1)[1])
    assert messages[0] == messages[1]


# --- TorchScript --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("convert", ["script", "trace"])
def test_torchscript_models_are_refused_with_the_python_model_as_the_fix(model, x, convert):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated in torch 2.14, which is the point of the message
        scripted = torch.jit.script(model) if convert == "script" else torch.jit.trace(model, x)
    for call in (lambda: get_feature_maps(scripted, x), lambda: list_layers(scripted, x),
                 lambda: capture(scripted).__enter__()):
        with pytest.raises(TypeError, match=f"cannot hook a TorchScript model \\(torch.jit.{convert}\\).*Capture "
                                            "from the Python model"):
            call()
    assert "conv1" in list_layers(scripted).names  # names alone need no hook


# --- activation checkpointing ---------------------------------------------------------------------------------------

class Checkpointed(nn.Module):
    def __init__(self, reentrant: bool) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3))
        self.head = nn.Linear(4, 2)
        self.reentrant = reentrant

    def forward(self, x):
        y = checkpoint(self.block, x, use_reentrant=self.reentrant)
        return self.head(y.mean((2, 3)))


@pytest.mark.parametrize("reentrant", [False, True])
def test_recomputation_in_backward_is_not_another_call(reentrant):
    torch.manual_seed(0)
    model = Checkpointed(reentrant).train()
    x = torch.randn(2, 1, 8, 8, requires_grad=True)
    with capture(model, ["block.0", "block.2"]) as maps:
        model(x).sum().backward()
    assert len(maps.calls("block.0")) == 1 and len(maps.calls("block.2")) == 1
    assert torch.allclose(maps["block.0"], model.block[0](x).detach())
    assert list_layers(model, x.detach()).names == ["block", "block.0", "block.1", "block.2", "head"]


# --- quantized --------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def quantized() -> nn.Module:
    torch.manual_seed(0)
    model = torchvision.models.quantization.resnet18(weights=None, quantize=False).eval()
    model.fuse_model()
    model.qconfig = tq.get_default_qconfig("fbgemm")
    tq.prepare(model, inplace=True)
    with torch.no_grad():
        model(torch.randn(2, 3, 64, 64))
    return tq.convert(model)


def test_quantized_convs_are_found_and_their_maps_read_as_values(quantized):
    x = torch.randn(1, 3, 64, 64)
    maps = get_feature_maps(quantized, x)
    assert len(maps) == 20 and "conv1" in maps and "layer4.1.conv2" in maps  # every quantized conv
    conv1 = maps["conv1"]
    assert conv1.is_quantized
    values = conv1.dequantize()
    stats = channel_stats(conv1)
    assert torch.allclose(stats.mean, values.mean((0, 2, 3)), atol=1e-5)
    assert torch.equal(normalize_maps(conv1), normalize_maps(values))
    fig = plot_feature_maps(conv1, channels=range(8))
    assert fig.tile_values(0).shape == tuple(values.shape[-2:])


# --- detection-like outputs ------------------------------------------------------------------------------------

class Pyramid(nn.Module):
    """A backbone whose `fpn` returns an OrderedDict of levels and whose `heads` return a tuple, as detectors do."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.fpn = torchvision.ops.FeaturePyramidNetwork([4, 4], 4)
        self.down = nn.Conv2d(4, 4, 3, stride=2, padding=1)

    def forward(self, x):
        a = self.stem(x)
        levels = self.fpn({"0": a, "1": self.down(a)})
        return {"boxes": levels["0"].mean((1, 2, 3)), "scores": levels["1"].amax((1, 2, 3))}


def test_a_dict_output_is_captured_level_by_level():
    torch.manual_seed(0)
    model = Pyramid().eval()
    x = torch.randn(1, 3, 16, 16)
    maps = get_feature_maps(model, x, ["fpn", "stem"])
    assert list(maps) == ["stem", "fpn[0]", "fpn[1]"]  # the parts follow the layers that returned one tensor
    assert maps["fpn[0]"].shape == (1, 4, 16, 16) and maps["fpn[1]"].shape == (1, 4, 8, 8)
    with torch.no_grad():
        levels = model.fpn({"0": model.stem(x), "1": model.down(model.stem(x))})
    assert torch.allclose(maps["fpn[1]"], levels["1"])
    with pytest.raises(KeyError, match="'fpn' returned a OrderedDict, not one tensor"):
        maps["fpn"]
    with capture(model) as whole:  # the whole model returns a dict too: the layers inside are unaffected
        model(x)
    assert len(whole.calls("stem")) == 1


# --- 1-D maps -------------------------------------------------------------------------------------------------------

def test_conv1d_maps_are_captured_but_not_drawn_as_images():
    model = nn.Sequential(nn.Conv1d(2, 6, 5), nn.ReLU(), nn.Conv1d(6, 3, 3))
    x = torch.randn(4, 2, 40)
    maps = get_feature_maps(model, x, ["0", "2"])
    assert maps["0"].shape == (4, 6, 36)
    with pytest.raises(ValueError, match=r"1-D layer.*\(N, C, L\): 1-D maps are not images.*plt.plot"):
        plot_feature_maps(maps["0"])
    with pytest.raises(ValueError, match="x.unsqueeze\\(0\\)"):  # one signal without its batch dimension
        get_feature_maps(model, x[0])
    with pytest.raises(ValueError, match="x\\[None, None\\]"):
        get_feature_maps(model, x[0, 0])


# --- torchvision classifiers with random weights ---------------------------------------------------------------------

@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "squeezenet1_0", "efficientnet_b0"])
def test_torchvision_models_every_conv_equals_the_oracle(name):
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    x = torch.randn(1, 3, 64, 64)
    expected = _plain_convs(model, x)
    maps = get_feature_maps(model, x)
    assert list(maps) == list(expected)
    assert all(torch.equal(maps[n], expected[n]) for n in expected if len(maps.calls(n)) == 1)
    assert hook_count(model) == 0 and not model.training
