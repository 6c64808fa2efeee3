"""The package's shape: no public name hides a module, every module declares __all__, the errors are importable."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import utils
import utils.checks

MODULES = [f"utils.{m.name}" for m in pkgutil.iter_modules(utils.__path__)] + \
          [f"utils.checks.{m.name}" for m in pkgutil.iter_modules(utils.checks.__path__)]


@pytest.mark.parametrize("name", MODULES)
def test_every_module_is_reachable_as_the_module_and_declares_all(name):
    module = importlib.import_module(name)
    parent, _, short = name.rpartition(".")
    attribute = getattr(importlib.import_module(parent), short)
    assert isinstance(attribute, types.ModuleType), f"{parent}.{short} is a {type(attribute).__name__}, not the module"
    assert attribute is module
    assert isinstance(module.__all__, list) and module.__all__, name
    missing = [public for public in module.__all__ if not hasattr(module, public)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"


def test_the_contract_and_the_errors_users_catch_come_from_utils():
    from utils import LayerNameError, LayerNotRunError, ReusedLayerError, capture, explore

    assert callable(capture) and callable(explore)
    assert issubclass(LayerNameError, KeyError) and issubclass(LayerNotRunError, RuntimeError)
    assert ReusedLayerError is utils.hooks.ReusedLayerError
    assert set(utils.__all__) <= set(dir(utils))


def test_import_of_a_module_by_its_dotted_name_gives_the_module():
    import utils.explorer as explorer
    import utils.hooks as hooks

    assert hooks.find_layer and explorer.Explorer


def test_import_utils_loads_only_what_the_names_used_need():
    """`import utils` and the setup cell stay light: torchvision (which imports every model definition),
    matplotlib's widgets and ipywidgets load only when a name that needs them is used."""
    code = ("import sys, utils; from utils import SimpleCNN, capture, load_trained_simplecnn; "
            "from utils.course import setup; "
            "print(*(m in sys.modules for m in ('torchvision', 'ipywidgets', 'anywidget'))); "
            "from utils import load_mnist, explore; print('torchvision' in sys.modules, 'ipywidgets' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False", "False", "False", "True"]


def test_every_public_name_resolves_and_unknown_names_fail_clearly():
    for name in utils.__all__:
        assert getattr(utils, name) is not None
    with pytest.raises(AttributeError, match="has no attribute 'capture_maps'"):
        utils.capture_maps  # noqa: B018


def test_no_module_is_longer_than_a_maintainer_can_read_in_one_go():
    """Issue 12: one module per concern keeps every file under about 400 lines; a longer one wants splitting."""
    root = Path(utils.__file__).parent
    lengths = {str(path.relative_to(root)): len(path.read_text().splitlines()) for path in root.rglob("*.py")}
    assert len(lengths) > 30
    assert {name: n for name, n in lengths.items() if n > 400} == {}
