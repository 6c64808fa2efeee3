"""The package's shape: no public name hides a module, every module declares __all__, the errors are importable."""

from __future__ import annotations

import importlib
import pkgutil
import types

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
