"""The forked notebook kernels of `make test` (tests/support/forked_kernel.py): forked from the zygote whenever they
can be, an ordinary kernel otherwise, and interrupted, shut down and killed as jupyter_client expects of any kernel."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator

import pytest
import torch  # noqa: F401  imported as by every test process: it sets variables no kernel may be refused for
import torchvision  # noqa: F401
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.manager import KernelManager

from tests.conftest import ROOT
from tests.support import forked_kernel

NOTEBOOKS = ROOT / "notebooks"
CHECK = ("import os, sys; print('torch' in sys.modules, os.getcwd(), os.environ['JPY_PARENT_PID'], "
         "os.getppid() == int(os.environ['JPY_PARENT_PID']), os.getpgid(0) == os.getpid())")
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the zygote forks kernels on Linux only")
Start = Callable[..., tuple[KernelManager, BlockingKernelClient]]


@pytest.fixture(scope="module")
def zygote() -> Iterator[str]:
    """The zygote of this pytest worker (`make test`), or one of the test's own."""
    if os.environ.get(forked_kernel.SOCKET_ENV):
        yield os.environ[forked_kernel.SOCKET_ENV]
    else:
        with forked_kernel.zygote() as path:
            yield path


@pytest.fixture
def start(zygote: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Start]:
    """Starts course-forked kernels in notebooks/ (with `env`, if given), as nbval does; stops them all after."""
    monkeypatch.setenv("JUPYTER_PATH", str(forked_kernel.JUPYTER_PATH))
    started = []

    def start(**kwargs: object) -> tuple[KernelManager, BlockingKernelClient]:
        manager = KernelManager(kernel_name=forked_kernel.NAME)
        manager.start_kernel(cwd=str(NOTEBOOKS), **kwargs)
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=120)
        started.append((manager, client))
        return manager, client

    yield start
    for manager, client in started:
        client.stop_channels()
        if manager.is_alive():
            manager.shutdown_kernel(now=True)


def run(client: BlockingKernelClient, code: str) -> str:
    out: list[str] = []
    reply = client.execute_interactive(code, timeout=60, output_hook=lambda msg: out.append(
        msg["content"].get("text", "")) if msg["msg_type"] == "stream" else None)
    assert reply["content"]["status"] == "ok", reply["content"]
    return "".join(out).strip()


def test_a_kernel_is_forked_with_torch_imported_in_its_own_folder_environment_and_group(start: Start) -> None:
    _, client = start(env={**os.environ, "COURSE_SOMETHING": "1"})  # not read on import: may differ
    # torch already imported, notebooks/ as the folder, this process's JPY_PARENT_PID, the zygote's child, a group
    # of its own
    assert run(client, CHECK) == f"True {NOTEBOOKS} {os.getpid()} False True"


def test_pythonpath_may_differ_and_goes_first_on_sys_path(start: Start, tmp_path) -> None:
    _, client = start(env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert run(client, "import sys; print('torch' in sys.modules, sys.path[0])") == f"True {tmp_path}"


def test_an_interrupt_stops_the_cell_and_the_kernel_goes_on(start: Start) -> None:
    manager, client = start()
    msg_id = client.execute("import time; time.sleep(60)", stop_on_error=False)  # the next cell is not aborted
    time.sleep(1)
    began = time.monotonic()
    manager.interrupt_kernel()
    reply = client.get_shell_msg(timeout=20)
    assert reply["parent_header"]["msg_id"] == msg_id
    assert reply["content"]["ename"] == "KeyboardInterrupt" and time.monotonic() - began < 20
    assert run(client, "print(6 * 7)") == "42"


@pytest.mark.parametrize("now", [False, True], ids=["shut down", "killed"])
def test_a_kernel_shut_down_or_killed_is_gone(start: Start, now: bool) -> None:
    manager, client = start()
    pid = int(run(client, "import os; print(os.getpid())"))
    client.stop_channels()
    manager.shutdown_kernel(now=now)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    pytest.fail(f"the kernel's process {pid} outlived its shutdown (now={now})")


def test_another_environment_gets_an_ordinary_kernel(start: Start) -> None:
    _, client = start(env={**os.environ, "OMP_NUM_THREADS": "1"})  # libgomp has read the zygote's on loading
    # no torch yet, and the process jupyter_client started is the kernel itself
    assert run(client, CHECK) == f"False {NOTEBOOKS} {os.getpid()} True True"


def test_without_a_zygote_the_kernel_is_an_ordinary_one(start: Start, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(forked_kernel.SOCKET_ENV)
    _, client = start()
    assert run(client, CHECK) == f"False {NOTEBOOKS} {os.getpid()} True True"
