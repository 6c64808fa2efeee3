"""JupyterLab on loopback and headless Chromium driven by Playwright: what the browser tests share.

`lab_browser` starts one JupyterLab (fresh config, data, runtime, settings and workspace folders, a free port) on a
folder and one Chromium, and stops both, checking that no kernel outlives the server. The tests need Debian's
Chromium at /usr/bin/chromium and Playwright's Python package; without them they are skipped with a message saying
how to enable them, unless COURSE_REQUIRE_BROWSER=1 (set by .ci/run), where they fail instead. No browser is ever
downloaded (`playwright install` is not used).
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
from collections.abc import Callable, Iterator
from pathlib import Path

import nbformat
import pytest

from tests.conftest import ROOT
from tests.support import forked_kernel

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HOW_TO_ENABLE = ("install Chromium at /usr/bin/chromium (Debian/Ubuntu: `sudo apt-get install chromium`) and "
                 "Playwright's Python package (`pip install playwright`; no `playwright install` is needed)")
SERVER_START_S = 90
RUN_ALL_S = 300  # a whole notebook, the CPU shared with the browser and the other tests
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
    forked_kernel.install_as_python3(dirs["data"])  # under `make test`, the notebook's kernel is a forked one
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
    """Open notebook `name` in Lab, wait for its kernel, then Run All from the Run menu and wait until it is done.

    Each notebook opens in a workspace of its own, so that a second page does not reopen the first one's tabs.
    """
    page.goto(f"{url}/lab/workspaces/{Path(name).stem}/tree/{name}")
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


@contextlib.contextmanager
def lab_browser(folder: Path, artifacts: Path) -> Iterator[tuple[str, object]]:
    """JupyterLab serving `folder` and a headless Chromium: yields (the server's URL, the browser)."""
    from playwright.sync_api import sync_playwright

    artifacts.mkdir(parents=True, exist_ok=True)
    for old in artifacts.glob("*.png"):
        old.unlink()
    with jupyter_lab(folder, artifacts / "jupyterlab.log") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        try:
            yield url, browser
        finally:
            browser.close()


def run_all(browser, url: str, name: str, artifacts: Path, width: int = 1280):
    """A new page with notebook `name` open and run (Run All), with no error in any output."""
    page = browser.new_page(viewport={"width": width, "height": 1000})
    with screenshot_on_failure(page, artifacts / f"failure_{name}.png"):
        open_and_run_all(page, url, name)
        assert not errors_in_page(page), errors_in_page(page)
    return page


@contextlib.contextmanager
def screenshot_on_failure(page, path: Path) -> Iterator[None]:
    """Save what the page showed when something inside went wrong."""
    try:
        yield
    except Exception:
        page.screenshot(path=str(path))
        raise


def notebook_cells(target: Path, parts: list[tuple[Path, Callable[[int, str], bool]]]) -> Path:
    """Write to `target` a notebook of code cells taken from others, outputs cleared: for each (source, keep) of
    `parts`, the code cells of notebook `source` for which keep(index among its code cells, text) is true."""
    notebook = None
    cells = []
    for source, keep in parts:
        read = nbformat.read(source, as_version=4)
        notebook = notebook or read
        code = [cell for cell in read.cells if cell.cell_type == "code"]
        cells += [cell for index, cell in enumerate(code) if keep(index, cell.source)]
    for number, cell in enumerate(cells):
        cell.outputs, cell.execution_count, cell.id = [], None, f"cell-{number}"  # ids unique across the sources
    notebook.cells = cells
    nbformat.write(notebook, target)
    return target
