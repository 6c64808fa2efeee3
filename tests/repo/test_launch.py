"""How people launch the course: the PyTorch build `make` picks, the command lines it builds, the version floors,
the GitHub workflow, the Colab setup and what `make lab` shows in a browser."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import types
import urllib.request
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.version import Version

from tests.conftest import ROOT
from tests.repo.test_repository import optional_dependencies, package_dependencies, pip_requirements, requirement

sys.path.insert(0, str(ROOT / "tools"))
import torch_index  # noqa: E402

WORKFLOW = ROOT / ".github" / "workflows" / "tests.yml"
OLDEST = ROOT / ".ci" / "oldest.txt"
NOTEBOOK00 = "notebooks/00_start_here.ipynb"
# Known not to work together or not to be installed: each floor set must avoid them.
BROKEN = {"ipykernel": ["6.20.0"]}  # yanked on PyPI: "qt integration broken"


def linux(**kw):
    return {"system": "Linux", "machine": "x86_64", "nvidia": False, **kw}


def never_called():
    raise AssertionError("the index was probed although the answer did not depend on it")


# -- the PyTorch build ------------------------------------------------------------------------------------------------

def test_auto_takes_the_cpu_build_on_linux_without_an_nvidia_gpu():
    build, reason = torch_index.choose("auto", **linux(), reachable=lambda: True)
    assert build == "cpu" and "no NVIDIA GPU" in reason
    assert torch_index.pip_args(build) == ["install", "--index-url", torch_index.CPU_INDEX, "torch", "torchvision"]


@pytest.mark.parametrize("where", [linux(nvidia=True), linux(system="Darwin", machine="arm64"),
                                   linux(system="Windows", machine="AMD64"), linux(machine="aarch64")],
                         ids=["linux-nvidia", "macos", "windows", "linux-arm"])
def test_auto_keeps_pypis_torch_elsewhere_without_probing(where):
    build, _ = torch_index.choose("auto", **where, reachable=never_called)
    assert build == "default" and torch_index.pip_args(build) == []


def test_auto_falls_back_to_pypi_when_the_cpu_index_cannot_be_reached():
    build, reason = torch_index.choose("auto", **linux(), reachable=lambda: False)
    assert build == "default" and "cannot be reached" in reason


def test_explicit_cpu_needs_the_index_and_says_what_to_do_instead():
    assert torch_index.choose("cpu", **linux(nvidia=True), reachable=lambda: True)[0] == "cpu"
    with pytest.raises(RuntimeError, match="TORCH=default"):
        torch_index.choose("cpu", **linux(), reachable=lambda: False)
    assert torch_index.choose("default", **linux(), reachable=never_called)[0] == "default"


def test_a_wrong_choice_names_the_variable_and_the_choices():
    with pytest.raises(ValueError, match=r"TORCH must be one of auto, cpu, default, not 'gpu'"):
        torch_index.choose("gpu", **linux(), reachable=never_called)


def test_constraints_reach_the_cpu_install():
    args = torch_index.pip_args("cpu", ".ci/oldest.txt")
    assert args[args.index("-c") + 1] == ".ci/oldest.txt" and args[-2:] == ["torch", "torchvision"]


def test_the_probe_gives_up_at_its_timeout_on_a_server_that_never_answers():
    with socket.socket() as silent:  # accepts connections (the OS does) but never sends a byte
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        start = time.monotonic()
        assert not torch_index.index_reachable(f"http://127.0.0.1:{silent.getsockname()[1]}/", timeout=1.0)
        assert time.monotonic() - start < 2.0


def test_auto_without_the_index_falls_back_at_once_with_one_line(monkeypatch, capsys):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens there once the socket is closed
    monkeypatch.setattr(torch_index, "CPU_INDEX", f"http://127.0.0.1:{port}/whl/cpu")
    monkeypatch.setattr(torch_index, "has_nvidia_gpu", lambda: False)
    monkeypatch.setattr(torch_index.platform, "system", lambda: "Linux")
    monkeypatch.setattr(torch_index.platform, "machine", lambda: "x86_64")
    start = time.monotonic()
    assert torch_index.main(["auto"]) == 0
    assert time.monotonic() - start < torch_index.PROBE_TIMEOUT_S + 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("PyTorch build: default (no NVIDIA GPU, but http://127.0.0.1")


def test_cpu_dry_run_prints_the_pip_command(monkeypatch, capsys):
    monkeypatch.setattr(torch_index, "index_reachable", lambda url=None: True)
    assert torch_index.main(["cpu", "--dry-run", "-c", ".ci/oldest.txt"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == f"{sys.executable} -m pip install --index-url {torch_index.CPU_INDEX} -c .ci/oldest.txt " \
                     "torch torchvision"


def test_a_wrong_choice_on_the_command_line_exits_with_the_reason(capsys):
    assert torch_index.main(["cuda"]) == 2
    assert "TORCH must be one of" in capsys.readouterr().err


# -- what make runs (dry runs: nothing is installed) -----------------------------------------------------------------

def make_dry_run(tmp_path: Path, *args: str) -> list[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed (Windows: the README's Windows commands are tested instead)")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}  # under `make test`
    result = subprocess.run(["make", "-n", "--no-print-directory", f"VENV={tmp_path / 'venv'}", *args], cwd=ROOT,
                            env=env, capture_output=True, text=True, check=True)
    return result.stdout.splitlines()


def line_with(lines: list[str], text: str) -> str:
    found = [line for line in lines if text in line]
    assert len(found) == 1, f"expected one line with {text!r} in:\n" + "\n".join(lines)
    return found[0]


def test_make_install_builds_the_torch_choice_then_the_requirements(tmp_path):
    plain = make_dry_run(tmp_path, "install-lab")
    assert line_with(plain, "torch_index.py").split()[-1] == "auto"
    assert "-c" not in line_with(plain, "-r requirements.txt").split()
    assert plain.index(line_with(plain, "torch_index.py")) < plain.index(line_with(plain, "-r requirements.txt"))
    oldest = make_dry_run(tmp_path, "install-lab", "TORCH=cpu", "CONSTRAINTS=.ci/oldest.txt")
    assert line_with(oldest, "torch_index.py").split()[-3:] == ["cpu", "-c", ".ci/oldest.txt"]
    assert "-c .ci/oldest.txt -r requirements.txt" in line_with(oldest, "-r requirements.txt")


def pip_installs(lines: list[str]) -> list[str]:
    """What each `pip install` line of a dry run installs from the course: `-e .`, `-e .[test]`, ..."""
    return [line.split(" -e ")[1].strip('"') for line in lines if "pip install" in line and " -e " in line]


def test_each_command_installs_its_own_set_once(tmp_path):
    """make lab: the course alone; make test adds the test tools, make lint the lint tools; none installs twice."""
    assert pip_installs(make_dry_run(tmp_path, "install-lab")) == ["."]
    assert pip_installs(make_dry_run(tmp_path, "install-test")) == [".", ".[test]"]
    assert pip_installs(make_dry_run(tmp_path, "install-lint")) == [".", ".[test]", ".[test,lint]"]
    (tmp_path / "venv").mkdir()
    (tmp_path / "venv" / ".installed-lab").touch()  # after `make lab` (newer than requirements.txt, pyproject.toml)
    assert pip_installs(make_dry_run(tmp_path, "test")) == [".[test]"]
    (tmp_path / "venv" / ".installed-test").touch()  # after `make test`
    assert pip_installs(make_dry_run(tmp_path, "install-lab")) == []
    assert pip_installs(make_dry_run(tmp_path, "test")) == []


def test_an_install_from_a_wheelhouse_asks_no_index(tmp_path):
    lines = make_dry_run(tmp_path, "install-test", "WHEELHOUSE=wheelhouse")
    installs = [line for line in lines if "pip install" in line]
    assert len(installs) == 2 and all("--no-index --find-links wheelhouse" in line for line in installs), lines
    assert not any("torch_index.py" in line for line in lines), "the wheelhouse holds the PyTorch build already"


def test_make_wheelhouse_downloads_the_torch_choice_then_everything_with_the_build_backend(tmp_path):
    lines = "\n".join(make_dry_run(tmp_path, "wheelhouse", "WHEELS=wh")).replace("\\\n", " ").splitlines()
    assert line_with(lines, "torch_index.py").split()[-3:] == ["auto", "--download", "wh"]
    download = line_with(lines, "pip download").split()
    assert download[download.index("-c") + 1] == "wh/torch.txt" and download[download.index("-d") + 1] == "wh"
    assert {"requirements.txt", '".[test]"', '"setuptools>=77"'} <= set(download), download


def test_the_wheelhouse_keeps_the_cpu_build_it_downloaded(tmp_path, monkeypatch):
    saved = ("Saved ./wh/torch-2.9.1+cpu-cp311-cp311-manylinux_2_28_x86_64.whl\n"
             "File was already downloaded /x/wh/torchvision-0.24.1+cpu-cp311-cp311-manylinux_2_28_x86_64.whl\n"
             "Saved ./wh/numpy-2.3.0-cp311-cp311-manylinux_2_28_x86_64.whl\n")
    commands = []

    def fake_pip(command, **kw):
        commands.append(command)
        return subprocess.CompletedProcess(command, 0, stdout=saved, stderr="")

    monkeypatch.setattr(torch_index.subprocess, "run", fake_pip)
    assert torch_index.download("cpu", str(tmp_path / "wh"), ".ci/oldest.txt") == 0
    assert commands[0][3:] == ["download", "--index-url", torch_index.CPU_INDEX, "-c", ".ci/oldest.txt", "-d",
                               str(tmp_path / "wh"), "torch", "torchvision"]
    pins = [line for line in (tmp_path / "wh" / "torch.txt").read_text().splitlines() if not line.startswith("#")]
    assert pins == ["torch==2.9.1+cpu", "torchvision==0.24.1+cpu"]
    assert torch_index.download("default", str(tmp_path / "pypi"), None) == 0 and len(commands) == 1
    assert "==" not in (tmp_path / "pypi" / "torch.txt").read_text()


def test_make_lab_installs_the_course_settings_and_prints_notebook_00(tmp_path):
    lines = make_dry_run(tmp_path, "lab")
    copy = line_with(lines, ".jupyter/lab/settings/overrides.json")
    assert copy.endswith(f"{tmp_path / 'venv'}/share/jupyter/lab/settings/overrides.d/feature-maps-course.json")
    assert lines[-1].split()[:2] == [f"{tmp_path / 'venv'}/bin/jupyter", "lab"]
    assert f"--LabApp.default_url=/lab/tree/{NOTEBOOK00}" in lines[-1].split()


def test_make_lint_checks_the_workflows(tmp_path):
    text = "\n".join(make_dry_run(tmp_path, "lint"))
    for check in ("check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yml",
                  "zizmor --offline .github/workflows", "vendor.github-issue-forms .github/ISSUE_TEMPLATE/*.yml",
                  "vendor.citation-file-format CITATION.cff", "vendor.dependabot .github/dependabot.yml"):
        assert check in text


# -- version floors ---------------------------------------------------------------------------------------------------

def floor(spec: str) -> tuple[Version, str]:
    """A `>=` or `==` version with its environment marker, normalized: ('>=0.39;python_version>="3.11"')."""
    version, _, marker = spec.partition(";")
    return Version(version.lstrip(">=")), str(Marker(marker)) if marker else ""


def declared_floors_and_markers() -> dict[str, tuple[Version, str]]:
    """Every `>=` floor of requirements.txt and of pyproject's [test] and [lint] extras, with its marker."""
    specs = pip_requirements() | optional_dependencies("test") | optional_dependencies("lint")
    return {name: floor(spec) for name, spec in specs.items()}


def declared_floors() -> dict[str, Version]:
    return {name: version for name, (version, _) in declared_floors_and_markers().items()}


def oldest_pins() -> dict[str, tuple[Version, str]]:
    lines = [line for line in OLDEST.read_text().splitlines() if line.strip() and not line.startswith("#")]
    return {name: floor(spec) for name, spec in map(requirement, lines)}


def test_oldest_txt_pins_exactly_the_declared_floors():
    assert oldest_pins() == declared_floors_and_markers(), \
        ".ci/oldest.txt must list each declared floor as name==version, with the same environment marker"


def test_the_lint_tools_are_left_out_where_they_have_no_release():
    """check-jsonschema >= 0.39 and zizmor need Python 3.11 ("No matching distribution" on 3.10)."""
    lint = {name: floor(spec)[1] for name, spec in optional_dependencies("lint").items()}
    assert lint and all(marker == 'python_version >= "3.11"' for marker in lint.values()), lint


def test_floors_avoid_known_broken_sets():
    floors = declared_floors()
    assert floors["torch"] >= Version("2.4"), "torch < 2.4 with numpy 2 fails at .numpy(): 'Numpy is not available'"
    for name, bad in BROKEN.items():
        assert str(floors[name]) not in bad, f"{name} {floors[name]} cannot be installed as a floor"


def test_floors_admit_what_colab_ships():
    """On Colab the package runs with what is preinstalled (its setup cell installs nothing)."""
    colab = {"ipywidgets": "7.7.1", "ipykernel": "6.17.1", "torch": "2.11", "torchvision": "0.26"}
    floors = {name: Version(spec.removeprefix(">=")) for name, spec in package_dependencies().items()}
    floors["ipykernel"] = declared_floors()["ipykernel"]  # the kernel Colab runs the notebooks in
    assert all(floors[name] <= Version(version) for name, version in colab.items())


# -- the GitHub workflow ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def workflow() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load(WORKFLOW.read_text())


def runs(job: dict) -> list[str]:
    return [step["run"].strip() for step in job["steps"] if "run" in step]


def test_workflow_runs_on_push_pull_requests_and_weekly(workflow):
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert {"push", "pull_request", "schedule"} <= set(triggers)
    assert workflow["permissions"] == {"contents": "read"}


def test_workflow_jobs_run_the_readmes_commands(workflow):
    jobs = workflow["jobs"]
    assert jobs["linux"]["runs-on"] == "ubuntu-latest" and "make test" in runs(jobs["linux"])
    assert jobs["macos"]["runs-on"] == "macos-latest" and "make test" in runs(jobs["macos"])
    assert jobs["windows"]["runs-on"] == "windows-latest"
    assert runs(jobs["oldest"])[:2] == ["make floors PYTHON=python", "make install-test CONSTRAINTS=.ci/oldest.txt"]
    assert "make colab-check PYTHON=python" in runs(jobs["colab"])
    assert jobs["linux"]["env"]["COURSE_REQUIRE_BROWSER"] == "1"
    assert runs(jobs["linux"])[1:3] == ["make lint", "make test"], "the lint tools installed before the tests"
    readme = [re.sub(r"\s+#.*", "", line) for line in readme_block_after("**Windows**")]
    commands = [re.sub(r"\s+#.*", "", run) for run in runs(jobs["windows"])]
    assert commands == [line for line in readme if not line.startswith(("$env:", ".venv\\Scripts\\jupyter"))]
    assert [f'$env:{name} = "{value}"' for name, value in jobs["windows"]["env"].items()] == \
        [line for line in readme if line.startswith("$env:")]


def test_every_action_is_pinned_to_a_commit(workflow):
    uses = [step["uses"] for job in workflow["jobs"].values() for step in job["steps"] if "uses" in step]
    assert uses and all(re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", use) for use in uses), uses


def readme_block_after(marker: str) -> list[str]:
    """The lines of the first fenced code block after `marker` in the README."""
    text = (ROOT / "README.md").read_text(encoding="utf-8").split(marker, 1)[1]
    block = re.search(r"```\w*\n(.*?)```", text, re.S).group(1)
    return [line.strip() for line in block.splitlines() if line.strip()]


def linter(tool: str) -> str:
    found = shutil.which(tool, path=str(Path(sys.executable).parent)) or shutil.which(tool)
    if found is None:
        pytest.skip(f"{tool} is not installed: pip install -e '.[lint]'")
    return found


# (schema, the repository's files, a file it must reject); `make test` runs these beside the other tests
SCHEMAS = {
    "vendor.github-workflows": (".github/workflows/*.yml", "on: push\njobs:\n  t:\n    steps:\n      - run: ls\n"),
    "vendor.github-issue-forms": (".github/ISSUE_TEMPLATE/*.yml", "name: no description and no body\n"),
    "vendor.citation-file-format": ("CITATION.cff", "cff-version: 1.2.0\n"),
    "vendor.dependabot": (".github/dependabot.yml", "version: 2\n"),
}


@pytest.mark.parametrize("schema", SCHEMAS)
def test_repository_files_pass_their_schema_which_rejects_a_bad_one(schema, tmp_path, capsys):
    check_jsonschema = pytest.importorskip("check_jsonschema", reason="pip install -e '.[lint]'")
    pattern, bad_text = SCHEMAS[schema]
    files = sorted(ROOT.glob(pattern))
    bad = tmp_path / f"bad{Path(pattern).suffix}"
    bad.write_text(bad_text)
    # in this process (pytest has imported jsonschema already): the command line's own start takes 2 s
    code = check_jsonschema.main.main(["--builtin-schema", schema, *map(str, files), str(bad)], standalone_mode=False)
    printed = capsys.readouterr().out
    assert files and code == 1, printed
    failing = {line.split("::")[0].strip() for line in printed.splitlines() if "::$" in line}
    assert failing == {str(bad)}, printed


def test_zizmor_passes_the_workflow_and_rejects_an_unpinned_action(tmp_path):
    assert subprocess.run([linter("zizmor"), "--offline", str(WORKFLOW)], capture_output=True).returncode == 0
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  t:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n")
    assert subprocess.run([linter("zizmor"), "--offline", str(bad)], capture_output=True).returncode != 0


# -- Colab ------------------------------------------------------------------------------------------------------------

def test_setup_on_colab_leaves_the_custom_widget_manager_off(monkeypatch):
    calls = []
    colab = types.ModuleType("google.colab")
    colab.output = types.SimpleNamespace(enable_custom_widget_manager=lambda: calls.append("enabled"))
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    from utils.course import setup

    with contextlib.redirect_stdout(io.StringIO()):
        setup()
    assert calls == [], "Colab's built-in manager shows ipywidgets' own widgets; the custom one is not needed"


# -- make lab in a browser --------------------------------------------------------------------------------------------

def lab_arguments(tmp_path: Path) -> tuple[list[str], Path]:
    """The `jupyter lab` arguments of `make lab`, and the settings folder it fills (by running its copy line)."""
    lines = make_dry_run(tmp_path, "lab")
    subprocess.run(line_with(lines, "overrides.json"), shell=True, cwd=ROOT, check=True)
    return lines[-1].split()[2:], tmp_path / "venv" / "share" / "jupyter" / "lab" / "settings"


def test_make_lab_prints_an_address_that_opens_notebook_00_without_the_news_question(tmp_path):
    from tests.support.browser import CHROMIUM, CHROMIUM_FLAGS, free_port, jupyter_lab_command, require_browser

    require_browser()
    from playwright.sync_api import sync_playwright

    arguments, settings = lab_arguments(tmp_path)
    dirs = {name: tmp_path / name for name in ("config", "data", "runtime", "workspaces", "user-settings")}
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(dirs["config"]), "JUPYTER_DATA_DIR": str(dirs["data"]),
           "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]), "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
           "JUPYTERLAB_SETTINGS_DIR": str(dirs["user-settings"]), "COURSE_OFFLINE": "1"}
    before = (ROOT / NOTEBOOK00).read_bytes()
    checkpoints = (ROOT / NOTEBOOK00).parent / ".ipynb_checkpoints"
    had_checkpoints = checkpoints.exists()
    log = tmp_path / "lab.log"
    command = [jupyter_lab_command(), *arguments, "--no-browser", "--ip=127.0.0.1", f"--port={free_port()}",
               "--ServerApp.port_retries=0", f"--LabApp.app_settings_dir={settings}"]
    with open(log, "w") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = printed_url(server, log)
        assert f"/lab/tree/{NOTEBOOK00}?token=" in url, url
        api = url.replace(f"/tree/{NOTEBOOK00}", "/api/settings/@jupyterlab/apputils-extension:notification")
        with urllib.request.urlopen(api, timeout=10) as response:
            defaults = json.load(response)["schema"]["properties"]  # the schema, with the overrides applied
        assert defaults["fetchNews"]["default"] == "false" and defaults["checkForUpdates"]["default"] is False
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(url)
                tab = page.locator(".lm-TabBar-tab.lm-mod-current", has_text="00_start_here.ipynb").first
                tab.wait_for(timeout=90_000)
                page.locator(".jp-NotebookPanel:visible .jp-Cell").first.wait_for(timeout=60_000)
                page.wait_for_timeout(3_000)  # the news question, when asked, comes within a second or two
                assert page.get_by_text("official Jupyter news").count() == 0, "the news question is shown"
            finally:
                browser.close()
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a loaded machine can take longer to shut its kernels down
            server.kill()
            server.wait()
    if not had_checkpoints:  # Jupyter checkpoints the notebook it opens: leave the checkout as it was
        shutil.rmtree(checkpoints, ignore_errors=True)
    assert (ROOT / NOTEBOOK00).read_bytes() == before


def printed_url(server: subprocess.Popen, log: Path, seconds: float = 90) -> str:
    """The address JupyterLab prints for people to open (the line after 'copy and paste one of these URLs')."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        text = log.read_text()
        found = re.search(r"copy and paste one of these URLs:\s+(\S+)", text)
        if found:
            return found.group(1)
        if server.poll() is not None:
            pytest.fail(f"jupyter-lab exited with code {server.returncode}:\n{text[-3000:]}")
        time.sleep(0.3)
    pytest.fail(f"jupyter-lab printed no address within {seconds} s:\n{log.read_text()[-3000:]}")
