"""Notebook 05 in a real browser: JupyterLab on loopback, headless Chromium driven by Playwright.

The test runs a copy of the notebook (the committed one is never touched), checks that the explorer's controls are
rendered, moves two of them and checks that the figure changed. Screenshots go to test-artifacts/browser/.

It needs Debian's Chromium at /usr/bin/chromium and Playwright's Python package; without them it is skipped with
a message saying how to enable it, unless COURSE_REQUIRE_BROWSER=1 (set by .ci/run), where it fails instead.
It never downloads a browser (`playwright install` is not used).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

NOTEBOOK = ROOT / "notebooks" / "05_reading_feature_maps.ipynb"
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HOW_TO_ENABLE = ("install Chromium at /usr/bin/chromium (Debian/Ubuntu: `sudo apt-get install chromium`) and "
                 "Playwright's Python package (`pip install playwright`; no `playwright install` is needed)")
SERVER_START_S = 90
RUN_ALL_S = 480  # the whole notebook (section 6 trains for about 10 epochs), the CPU shared with the browser
REDRAW_S = 30

# Lab settings for a quiet, predictable page: no news or update pop-ups, every cell kept in the page.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def require_browser() -> None:
    """Skip (or, with COURSE_REQUIRE_BROWSER=1, fail) when Chromium or Playwright is missing."""
    missing = [what for what, present in [("/usr/bin/chromium", CHROMIUM.is_file()),
                                          ("the playwright package", importlib.util.find_spec("playwright"))]
               if not present]
    if not missing:
        return
    message = f"the browser test needs {' and '.join(missing)}: to enable it, {HOW_TO_ENABLE}."
    if os.environ.get("COURSE_REQUIRE_BROWSER") == "1":
        pytest.fail(f"COURSE_REQUIRE_BROWSER=1, but {message}", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jupyter_lab_command() -> str:
    """The `jupyter-lab` server itself (not the `jupyter lab` launcher, whose child would outlive a stop)."""
    found = Path(sys.executable).with_name("jupyter-lab")
    if found.is_file():
        return str(found)
    found = shutil.which("jupyter-lab")
    if found is None:
        pytest.fail("jupyter-lab is not installed in this environment: pip install -r requirements.txt")
    return found


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is `pid` (the kernels a Jupyter server started); Linux only, else []."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                children.append(int(stat.parent.name))
    return children


def pid_alive(pid: int) -> bool:
    """True while `pid` runs (a zombie, finished but not yet reaped by its parent, counts as ended)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def wait_until_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.2)
    return [p for p in pids if pid_alive(p)]


@contextlib.contextmanager
def jupyter_lab(folder: Path, log_path: Path) -> Iterator[str]:
    """JupyterLab serving `folder` on 127.0.0.1 with fresh config, data, runtime, settings and workspace folders.

    Yields the base URL. On exit it stops the server it started, by process id, and checks that the server and
    the kernels it started have ended.
    """
    home = folder.parent / "jupyter"
    dirs = {name: home / name for name in ("config", "data", "runtime", "workspaces", "settings")}
    for path in dirs.values():
        path.mkdir(parents=True)
    for name, values in LAB_SETTINGS.items():
        settings = dirs["settings"] / name
        settings.parent.mkdir(parents=True, exist_ok=True)
        settings.write_text(json.dumps(values))
    env = {**os.environ, "COURSE_OFFLINE": "1",
           # the data dir replaces only the per-user one: the kernelspec and the ipywidgets lab extension
           # installed in this environment (sys.prefix/share/jupyter) are still found
           "JUPYTER_CONFIG_DIR": str(dirs["config"]), "JUPYTER_DATA_DIR": str(dirs["data"]),
           "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]), "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
           "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]),
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    port = free_port()
    command = [jupyter_lab_command(), "--no-browser", "--allow-root", f"--port={port}", "--ip=127.0.0.1",
               "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.port_retries=0",
               f"--ServerApp.root_dir={folder}"]
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    kernels: list[int] = []
    try:
        wait_for_server(url, server, log_path)
        yield url
        kernels = child_pids(server.pid)
    finally:
        kernels = kernels or child_pids(server.pid)
        server.terminate()  # SIGTERM: the server shuts its kernels down, then exits
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        left = wait_until_gone(kernels, 10)
        for pid in left:  # a kernel the server failed to stop: ours too, stopped by its id
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
    assert server.returncode is not None, "the JupyterLab server did not stop"
    assert not left, f"kernels {left} outlived the JupyterLab server"


def wait_for_server(url: str, server: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"jupyter-lab exited with code {server.returncode}:\n{log_path.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(f"{url}/api/status", timeout=2) as response:
                if response.status == 200:
                    return
        time.sleep(0.3)
    pytest.fail(f"jupyter-lab did not answer within {SERVER_START_S} s:\n{log_path.read_text()[-3000:]}")


def open_and_run_all(page, url: str, name: str) -> None:
    """Open notebook `name` in Lab, wait for its kernel, then Run All from the Run menu and wait until it is done."""
    page.goto(f"{url}/lab/tree/{name}")
    page.locator(".jp-NotebookPanel .jp-Notebook").first.wait_for(timeout=60_000)
    page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=60_000)
    idle = "Python 3 (ipykernel) | Idle"  # the status bar's kernel indicator
    page.get_by_text(idle).first.wait_for(timeout=60_000)
    page.locator(".lm-MenuBar-item", has_text="Run").first.click()
    page.locator("[data-command='runmenu:run-all']").first.click()
    # done when no cell is waiting or running ([*]) and the kernel is idle again
    page.wait_for_function("""() => {
        const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')];
        return prompts.length > 0 && prompts.every(p => /\\[\\d+\\]/.test(p.textContent));
    }""", timeout=RUN_ALL_S * 1000, polling=500)
    page.get_by_text(idle).first.wait_for(timeout=60_000)


def errors_in_page(page) -> list[str]:
    """The text of error outputs (tracebacks) in the notebook."""
    outputs = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    return [text for text in outputs.all_inner_texts() if "Traceback" in text or "Error" in text]


def figure_after(page, image, action) -> bytes:
    """Do `action`, wait until the explorer's figure shows a new picture, return its screenshot."""
    old = image.get_attribute("src")
    action()
    page.wait_for_function("([old]) => { const i = document.querySelector('.course-explorer img');"
                           " return i && i.src !== old && i.complete; }", arg=[old], timeout=REDRAW_S * 1000)
    page.wait_for_timeout(200)
    return image.screenshot()


def test_notebook_05_explorer_in_a_real_browser(tmp_path):
    require_browser()
    from playwright.sync_api import sync_playwright

    assert NOTEBOOK.is_file(), f"{NOTEBOOK} is missing"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    folder = tmp_path / "notebooks"
    folder.mkdir()
    shutil.copy(NOTEBOOK, folder / NOTEBOOK.name)
    before = NOTEBOOK.read_bytes()

    with jupyter_lab(folder, ARTIFACTS / "jupyterlab.log") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        try:
            open_and_run_all(page, url, NOTEBOOK.name)
            assert not errors_in_page(page), errors_in_page(page)

            explorer = page.locator(".course-explorer").first
            explorer.wait_for(timeout=60_000)
            explorer.scroll_into_view_if_needed()
            for control in ("image", "layer", "channels", "scale"):
                assert explorer.locator(f".course-explorer-{control}").first.is_visible(), f"no {control} control"
            image = explorer.locator("img").first
            image.wait_for(timeout=REDRAW_S * 1000)
            label = explorer.locator(".course-explorer-label").first
            label_before = label.inner_text()
            page.screenshot(path=str(ARTIFACTS / "1_explorer.png"))
            first = image.screenshot()

            handle = explorer.locator(".course-explorer-image .noUi-handle").first
            second = figure_after(page, image, lambda: (handle.focus(), handle.press("ArrowRight")))
            assert second != first, "the figure did not change after moving the image slider"
            assert label.inner_text() != label_before, "the label did not follow the image slider"
            page.screenshot(path=str(ARTIFACTS / "2_next_image.png"))

            layers = explorer.locator(".course-explorer-layer select").first
            options = layers.locator("option").all_inner_texts()
            assert len(options) >= 2, f"expected at least two layers to choose from, got {options}"
            third = figure_after(page, image, lambda: layers.select_option(options[1]))
            assert third not in (first, second), "the figure did not change after choosing another layer"
            assert options[1] in label.inner_text()
            page.screenshot(path=str(ARTIFACTS / "3_other_layer.png"))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "failure.png"))  # what the page showed when it went wrong
            raise
        finally:
            browser.close()
    assert NOTEBOOK.read_bytes() == before, "the browser test changed the committed notebook"


def test_without_chromium_it_skips_with_how_to_enable_or_fails_in_ci(monkeypatch, tmp_path):
    monkeypatch.setitem(globals(), "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("COURSE_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install chromium") as skipped:
        require_browser()
    assert "pip install playwright" in str(skipped.value)
    monkeypatch.setenv("COURSE_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="COURSE_REQUIRE_BROWSER=1"):
        require_browser()
