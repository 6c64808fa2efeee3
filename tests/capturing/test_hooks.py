"""utils.capturing.hooks: the contract (names, defaults, detached clones, hooks removed), bad input and faults, and
agreement with torchvision's create_feature_extractor tensor for tensor."""

from __future__ import annotations

import copy
import gc
import weakref

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet18, squeezenet1_0
from torchvision.models.feature_extraction import create_feature_extractor

from utils import (
    FeatureMaps,
    LayerNameError,
    LayerNotRunError,
    ReusedLayerError,
    SimpleCNN,
    capture,
    get_feature_maps,
    list_layers,
)
from utils.capturing.layers import find_layer


def hooks_left(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.fixture
def digits() -> torch.Tensor:
    return torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(1))


class ConvInplaceReLU(nn.Module):
    """The trap: an in-place ReLU right after the conv whose output we capture."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu(self.conv(x))


class Branchy(nn.Module):
    """A spare module, a branch that depends on the data, and a functional ReLU."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)
        self.big = nn.Conv2d(2, 2, 1)
        self.small = nn.Conv2d(2, 2, 1)
        self.spare = nn.Conv2d(2, 2, 1)

    def forward(self, x):
        x = F.relu(self.conv(x))
        return self.big(x) if x.mean() > 100 else self.small(x)


# --- What is captured ----------------------------------------------------------------------------------------------

def test_captures_are_detached_clones_of_the_layer_outputs(cnn, digits):
    x = digits.clone().requires_grad_()
    with capture(cnn, ["conv1", "conv2"]) as maps:
        logits = cnn(x)
    expected = cnn.conv1(digits)
    assert torch.equal(maps["conv1"], expected)
    assert maps["conv2"].shape == (3, 32, 8, 8)
    for name in ("conv1", "conv2"):
        assert maps[name].grad_fn is None and not maps[name].requires_grad  # no autograd graph kept
        assert maps[name].device == torch.device("cpu")
    logits.sum().backward()  # capturing did not get in the way of autograd
    assert x.grad is not None


def test_default_is_every_conv2d_with_dotted_names():
    model = resnet18()
    convs = [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    maps = get_feature_maps(model, torch.randn(1, 3, 32, 32))
    assert list(maps) == convs and len(convs) == 20 and "layer2.0.downsample.0" in maps


def test_a_single_name_or_a_module_can_be_passed(cnn, digits):
    assert list(get_feature_maps(cnn, digits, "conv2")) == ["conv2"]  # not the letters c, o, n, ...
    assert list(get_feature_maps(cnn, digits, [cnn.fc1, "conv1", "conv1"])) == ["fc1", "conv1"]
    with pytest.raises(ValueError, match="not a submodule"):
        get_feature_maps(cnn, digits, [nn.Conv2d(1, 1, 1)])
    with pytest.raises(ValueError, match="empty"):
        get_feature_maps(cnn, digits, [])
    with pytest.raises(ValueError, match="no nn.Conv2d"):
        get_feature_maps(nn.Sequential(nn.Linear(2, 2)), torch.zeros(1, 2))


def test_the_model_output_is_unchanged_by_capturing(digits):
    for model in (SimpleCNN().eval(), ConvInplaceReLU()):
        x = digits[:, :1]
        plain = model(x)
        with capture(model, [n for n, _ in model.named_modules() if n]):
            hooked = model(x)
        assert torch.equal(plain, hooked)


def test_device_and_clone_options(cnn, digits):
    maps = get_feature_maps(cnn, digits, ["conv1"], device=None)
    assert maps["conv1"].device == digits.device
    with capture(cnn, "conv1", device="cpu") as a, capture(cnn, "conv1", clone=False) as b:
        cnn(digits)
    assert torch.equal(a["conv1"], b["conv1"])
    assert a["conv1"].data_ptr() != b["conv1"].data_ptr()


# --- The in-place ReLU trap ----------------------------------------------------------------------------------------

def test_inplace_relu_after_a_captured_conv_does_not_change_the_capture(digits):
    torch.manual_seed(0)
    model = ConvInplaceReLU()
    with torch.no_grad():
        conv_output = F.conv2d(digits, model.conv.weight, model.conv.bias)
    assert (conv_output < 0).any()  # otherwise the test would prove nothing
    maps = get_feature_maps(model, digits, ["conv", "relu"])
    assert torch.equal(maps["conv"], conv_output)  # the conv's own output, negatives included
    assert torch.equal(maps["relu"], conv_output.clamp(min=0))
    trap = get_feature_maps(model, digits, ["conv"], clone=False)  # the documented cost of clone=False
    assert torch.equal(trap["conv"], conv_output.clamp(min=0))


# --- Reused modules and several forward passes ---------------------------------------------------------------------

def test_a_module_used_twice_is_reached_through_calls(cnn, digits):
    maps = get_feature_maps(cnn, digits, ["pool", "conv1"])
    with pytest.raises(ReusedLayerError, match=r"ran 2 times.*maps.calls\('pool'\)") as error:
        maps["pool"]
    assert not isinstance(error.value, KeyError)
    first, second = maps.calls("pool")
    assert torch.equal(first, cnn.pool(F.relu(cnn.conv1(digits))))
    assert second.shape == (3, 32, 4, 4)
    assert maps.calls("conv1") == (maps["conv1"],)


def test_several_forward_passes_in_one_block_are_appended(cnn, digits):
    with capture(cnn, "conv1") as maps:
        for i in range(3):
            cnn(digits[i:i + 1])
    assert len(maps.calls("conv1")) == 3
    assert torch.equal(torch.cat(maps.calls("conv1")), cnn.conv1(digits))
    with pytest.raises(ReusedLayerError, match="ran 3 times"):
        maps["conv1"]


def test_a_module_registered_under_two_names_is_hooked_once():
    class Aliased(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(1, 1, 1)
            self.alias = self.conv  # named_modules() lists it once; the second name still resolves

        def forward(self, x):
            return self.conv(x)

    model = Aliased()
    with capture(model, ["conv", "alias"]) as maps:
        assert hooks_left(model) == 1
        model(torch.randn(1, 1, 2, 2))
    assert maps["conv"] is maps["alias"]


# --- Bad input and faults ------------------------------------------------------------------------------------------

def test_unknown_name_suggests_the_closest_and_points_at_list_layers(cnn):
    with pytest.raises(KeyError) as error:
        get_feature_maps(cnn, torch.zeros(1, 1, 28, 28), ["conv1", "cnov2"])
    message = str(error.value)
    assert "Did you mean 'conv2'?" in message and "list_layers" in message
    assert message.startswith("No layer named 'cnov2'")  # printed as written, not as a repr
    assert hooks_left(cnn) == 0  # nothing was registered for conv1 either


@pytest.mark.parametrize("wrong, suggested", [
    ("features[1]", "features.1"), ("model.features.0", "features.0"), ("conv", "features.0.conv"),
    ("Features", "features"), ("features.0.cnv", "features.0.conv"),
])
def test_suggestions_for_typical_mistakes(wrong, suggested):
    block = nn.Sequential()
    block.conv = nn.Conv2d(1, 1, 1)
    model = nn.Sequential()
    model.features = nn.Sequential(block, nn.ReLU())
    with pytest.raises(LayerNameError) as error:
        find_layer(model, wrong)
    assert f"Did you mean '{suggested}'" in str(error.value)


def test_find_layer(cnn):
    assert find_layer(cnn, "conv2") is cnn.conv2
    with pytest.raises(KeyError, match="as a function|is a function"):
        find_layer(cnn, "relu")  # F.relu in SimpleCNN: the message explains why there is no such layer
    with pytest.raises(KeyError, match="itself"):
        find_layer(cnn, "")
    with pytest.raises(TypeError):
        find_layer(cnn, 0)


def test_a_name_that_was_not_captured_is_a_key_error(cnn, digits):
    maps = get_feature_maps(cnn, digits, ["conv1", "conv2"])
    with pytest.raises(KeyError, match=r"Did you mean 'conv1' or 'conv2'\?") as error:
        maps["conv3"]
    assert "layers=[" in str(error.value)
    with pytest.raises(KeyError, match="add this one"):
        maps["fc1"]  # a real layer, just not asked for
    assert maps.get("fc1") is None and "fc1" not in maps


@pytest.mark.parametrize("name, cause", [("spare", "spare module"), ("big", "another branch")])
def test_a_layer_that_never_ran_names_itself_and_the_causes(name, cause, digits):
    model = Branchy()
    maps = get_feature_maps(model, digits, ["conv", name])
    assert name not in maps and list(maps) == ["conv"] and len(maps) == 1
    with pytest.raises(LayerNotRunError) as error:
        maps[name]
    assert not isinstance(error.value, KeyError)
    message = str(error.value)
    assert f"'{name}'" in message and cause in message and "F.relu" in message
    assert maps.calls(name) == ()
    assert "did not run" in repr(maps)


def test_an_exception_in_the_block_removes_every_hook(cnn, digits):
    with pytest.raises(ZeroDivisionError):
        with capture(cnn) as maps:
            cnn(digits)
            assert hooks_left(cnn) == 2
            raise ZeroDivisionError("a bug in the learner's code")
    assert hooks_left(cnn) == 0 and maps["conv1"].shape == (3, 16, 24, 24)
    with pytest.raises(RuntimeError):
        get_feature_maps(cnn, torch.zeros(1, 3, 28, 28))  # wrong channel count: the forward pass itself fails
    assert hooks_left(cnn) == 0


def test_hundreds_of_captures_leave_no_hook_and_keep_nothing_alive(cnn, digits):
    maps_refs, tensor_refs = [], []
    for i in range(300):
        if i % 2:
            maps = get_feature_maps(cnn, digits[:1], stop_early=bool(i % 3))
        else:
            with capture(cnn, ["conv1", "pool", "fc3"]) as maps:
                cnn(digits[:1])
        maps_refs.append(weakref.ref(maps))
        tensor_refs.append(weakref.ref(maps.calls("conv1")[0]))
    del maps
    gc.collect()
    assert hooks_left(cnn) == 0
    assert all(ref() is None for ref in maps_refs + tensor_refs)  # the model holds no reference to them


def test_a_layer_returning_a_tuple_has_each_tensor_captured_by_name():
    model = nn.Sequential()
    model.rnn = nn.GRU(4, 3, batch_first=True)
    x = torch.randn(1, 5, 4)
    maps = get_feature_maps(model, x, ["rnn"])
    output, hidden = model(x)
    assert list(maps) == ["rnn[0]", "rnn[1]"]
    assert torch.equal(maps["rnn[0]"], output) and torch.equal(maps["rnn[1]"], hidden)
    with pytest.raises(KeyError, match=r"'rnn' returned a tuple, not one tensor.*maps\['rnn\[0\]'\]"):
        maps["rnn"]
    assert "returned a tuple: rnn[0], rnn[1]" in repr(maps)
    assert hooks_left(model) == 0


def test_a_layer_returning_no_tensor_is_a_clear_error():
    class Words(nn.Module):
        def forward(self, x):
            return {"text": "no tensor here"}

    model = nn.Sequential()
    model.words = Words()
    with pytest.raises(TypeError, match="'words' \\(Words\\) returned a dict, not a tensor"):
        get_feature_maps(model, torch.zeros(1, 4), ["words"])
    assert hooks_left(model) == 0


def test_train_eval_mode_is_restored_and_eval_is_used(digits):
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5), nn.Conv2d(4, 2, 1)).train()
    model[1].eval()  # a mixed state, as when fine-tuning with frozen batch norm
    modes = [m.training for m in model.modules()]
    running_mean = model[1].running_mean.clone()
    a = get_feature_maps(model, digits, ["3"])
    b = get_feature_maps(model, digits, ["3"], stop_early=True)
    assert [m.training for m in model.modules()] == modes
    assert torch.equal(a["3"], b["3"])  # dropout off: eval mode during the pass
    assert torch.equal(model[1].running_mean, running_mean)  # batch norm statistics untouched
    list_layers(model, digits)
    assert [m.training for m in model.modules()] == modes and hooks_left(model) == 0


@pytest.mark.parametrize("layers", [b"conv1", bytearray(b"conv1")])
def test_layers_as_bytes_is_a_type_error_naming_layers(cnn, digits, layers):
    for call in (lambda: get_feature_maps(cnn, digits, layers), lambda: capture(cnn, layers).__enter__()):
        with pytest.raises(TypeError, match=r"layers=.*conv1.* is (bytes|bytearray), not a name: pass a str"):
            call()
    assert hooks_left(cnn) == 0


# --- stop_early ------------------------------------------------------------------------------------------------------

class Recorder(nn.Module):
    """Counts the forward calls that compute (stop_early's dry run on the meta device computes nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.ran = 0

    def forward(self, x):
        self.ran += x.device.type != "meta"
        return x


def test_stop_early_stops_once_every_requested_layer_has_fired(cnn, digits):
    model = nn.Sequential(cnn.conv1, nn.ReLU(), Recorder())
    maps = get_feature_maps(model, digits, ["0"], stop_early=True)
    assert model[2].ran == 0 and hooks_left(model) == 0
    assert torch.equal(maps["0"], get_feature_maps(model, digits, ["0"])["0"])
    assert model[2].ran == 1


def test_stop_early_never_cuts_a_reused_module_short(cnn, digits):
    """SimpleCNN calls pool twice: stop_early must not return conv1's pooled maps as if they were pool's only."""
    full = get_feature_maps(cnn, digits, ["pool"]).calls("pool")
    for layers in (["pool"], ["pool", "conv1"]):
        maps = get_feature_maps(cnn, digits, layers, stop_early=True)
        assert len(maps.calls("pool")) == 2 and all(map(torch.equal, maps.calls("pool"), full))
        with pytest.raises(ReusedLayerError, match="ran 2 times"):
            maps["pool"]


def test_stop_early_on_a_model_that_cannot_run_on_meta_runs_the_whole_pass(cnn, digits):
    class ReadsValues(nn.Module):  # .item() needs numbers: the meta dry run cannot count, so nothing is cut short
        def __init__(self) -> None:
            super().__init__()
            self.pool, self.after = nn.MaxPool2d(2), Recorder()

        def forward(self, x):
            x = self.pool(x)
            if x.sum().item() > -1e9:
                x = self.pool(x)
            return self.after(x)

    model = ReadsValues()
    maps = get_feature_maps(model, digits, ["pool"], stop_early=True)
    assert len(maps.calls("pool")) == 2 and model.after.ran == 1


def test_stop_early_is_not_swallowed_by_a_models_except_exception(digits):
    class Careless(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.after = nn.Conv2d(1, 1, 1), Recorder()

        def forward(self, x):
            try:
                x = self.conv(x)
            except Exception:  # noqa: BLE001 - the point of the test
                pass
            return self.after(x)

    model = Careless()
    get_feature_maps(model, digits, ["conv"], stop_early=True)
    assert model.after.ran == 0


# --- FeatureMaps and list_layers -------------------------------------------------------------------------------------

def test_feature_maps_is_a_read_only_mapping_that_prints_names_and_shapes(cnn, digits):
    maps = get_feature_maps(cnn, digits, ["conv1", "pool"])
    assert isinstance(maps, FeatureMaps)
    with pytest.raises(TypeError):
        maps["conv1"] = torch.zeros(1)
    assert isinstance(maps.calls("pool"), tuple)
    text = repr(maps)
    assert "conv1  (3, 16, 24, 24)" in text and "ran 2 times" in text and "float32 on cpu" in text


def test_list_layers_names_types_and_shapes(cnn):
    plain = list_layers(cnn)
    assert plain.names == [n for n, _ in cnn.named_modules() if n]
    assert plain[0].shapes is None and plain[0].type == "Conv2d"
    table = list_layers(cnn, torch.zeros(2, 1, 28, 28))
    by_name = {layer.name: layer for layer in table}
    assert by_name["conv2"].shape == (2, 32, 8, 8) and by_name["conv2"].calls == 1
    assert by_name["pool"].shapes == ((2, 16, 12, 12), (2, 32, 4, 4))
    text = repr(table)
    assert text.splitlines()[0].split() == ["name", "type", "output", "shape"]
    assert "ran 2 times" in text and hooks_left(cnn) == 0
    branchy = {layer.name: layer for layer in list_layers(Branchy(), torch.zeros(1, 1, 5, 5))}
    assert branchy["spare"].calls == 0 and "did not run" in repr(list_layers(Branchy(), torch.zeros(1, 1, 5, 5)))


# --- Against torchvision's FX feature extractor -----------------------------------------------------------------------

def test_resnet18_matches_create_feature_extractor_tensor_for_tensor():
    torch.manual_seed(0)
    model = resnet18(weights=None).eval()
    x = torch.randn(2, 3, 64, 64)
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)] + ["layer1", "layer4.1.bn2", "fc"]
    expected = create_feature_extractor(model, {n: n for n in names})(x)
    maps = get_feature_maps(model, x, names)
    assert list(maps) == names
    for name in names:
        assert torch.equal(maps[name], expected[name]), name


def test_squeezenet_inplace_relus_fx_overwrites_we_do_not():
    torch.manual_seed(0)
    model = squeezenet1_0(weights=None).eval()  # every conv is followed by ReLU(inplace=True)
    x = torch.randn(2, 3, 64, 64)
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    honest = copy.deepcopy(model)
    for m in honest.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    expected = create_feature_extractor(honest, {n: n for n in convs})(x)  # the convs' own outputs
    maps = get_feature_maps(model, x)
    assert list(maps) == convs
    for name in convs:
        assert torch.equal(maps[name], expected[name]), name
    assert (maps["features.0"] < 0).any()  # negatives survive: the ReLU after it did not reach our copy
    # FACTS.md: FX returns the very tensor the in-place ReLU then overwrites (once a later node makes it run)
    fx = create_feature_extractor(model, {"features.0": "conv", "features.3.squeeze": "later"})(x)
    assert torch.equal(fx["conv"], expected["features.0"].clamp(min=0))
