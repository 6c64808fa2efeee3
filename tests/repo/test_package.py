"""The package's shape: no public name hides a module, every module declares __all__, the errors are importable."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

import utils
import utils.checks

_FOUND = list(pkgutil.walk_packages(utils.__path__, "utils."))
PACKAGES = [m.name for m in _FOUND if m.ispkg]  # their __init__ files: a docstring (checks: the notebooks' imports)
MODULES = [m.name for m in _FOUND if not m.ispkg]


@pytest.mark.parametrize("name", PACKAGES + MODULES)
def test_every_module_is_reachable_as_the_module_and_declares_all(name):
    module = importlib.import_module(name)
    parent, _, short = name.rpartition(".")
    attribute = getattr(importlib.import_module(parent), short)
    assert isinstance(attribute, types.ModuleType), f"{parent}.{short} is a {type(attribute).__name__}, not the module"
    assert attribute is module
    if name in PACKAGES and name != "utils.checks":
        return
    assert isinstance(module.__all__, list) and module.__all__, name
    missing = [public for public in module.__all__ if not hasattr(module, public)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"


def test_the_contract_and_the_errors_users_catch_come_from_utils():
    from utils import LayerNameError, LayerNotRunError, ReusedLayerError, capture, explore

    assert callable(capture) and callable(explore)
    assert issubclass(LayerNameError, KeyError) and issubclass(LayerNotRunError, RuntimeError)
    assert ReusedLayerError is importlib.import_module("utils.capturing.feature_maps").ReusedLayerError
    assert set(utils.__all__) <= set(dir(utils))


def test_import_of_a_module_by_its_dotted_name_gives_the_module():
    import utils.capturing.hooks as hooks
    import utils.widgets.explorer as explorer

    assert hooks.get_feature_maps and explorer.Explorer


def _defined_at_top(module: types.ModuleType) -> set[str]:
    """The names a module's own source binds at its top level (def, class, assignment), not those it imports."""
    tree = ast.parse(Path(module.__file__).read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


def test_every_public_name_has_one_home():
    """No re-export shims: a module's __all__ names only what it defines itself (the __init__ files excepted), so
    every public name is importable from one module of utils (and the contract's from utils)."""
    homes: dict[str, list[str]] = {}
    for name in MODULES:
        module = importlib.import_module(name)
        foreign = sorted(set(module.__all__) - _defined_at_top(module))
        assert not foreign, f"{name}.__all__ re-exports {foreign}: import them from their own module"
        for public in module.__all__:
            homes.setdefault(public, []).append(name)
    homes.pop("main", None)  # a command line's entry point (`make data`, `make checkpoint`), one per module
    assert {public: where for public, where in homes.items() if len(where) > 1} == {}


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


def _imports(name: str) -> set[str]:
    """The modules of utils that module `name` imports, at module level or inside a function (not under
    `if TYPE_CHECKING:`, which never runs)."""
    module = importlib.import_module(name)
    package = name if Path(module.__file__).name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:  # `from .pkg import module` imports the module
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(Path(module.__file__).read_text()))
    return {target for target in found if target in MODULES and target != name}


def test_no_import_cycle_in_utils():
    """Imports flow one way (data -> models -> train; capture -> plot/analysis -> widgets): a cycle, even one hidden
    by an import inside a function, fails."""
    graph = {name: _imports(name) for name in MODULES}
    assert any(graph.values()), "the import graph was not read"
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def walk(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph[name]):
            assert state.get(target) != 1, f"import cycle: {' -> '.join([*path[path.index(target):], target])}"
            if target not in state:
                walk(target, [*path, target])
        state[name] = 2

    for name in MODULES:
        if name not in state:
            walk(name, [name])


def test_the_editors_view_of_the_contract_matches_the_lazy_table():
    """utils/__init__.py names each public name twice: `_HOME` (what runs) and the TYPE_CHECKING imports (what
    editors and mypy see). They must agree, name for name and module for module."""
    tree = ast.parse(Path(utils.__file__).read_text())
    block = next(node for node in tree.body if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test))
    seen = {alias.name: node.module for node in block.body if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert seen == utils._HOME


def test_every_check_is_exported_from_utils_checks():
    """Notebooks import their checks from utils.checks: every nbXX module's checks are there."""
    for name in MODULES:
        if name.startswith("utils.checks.nb"):
            module = importlib.import_module(name)
            assert set(module.__all__) <= set(utils.checks.__all__), f"{name} has checks utils.checks leaves out"
