"""Notebook kernels forked from one process that has already imported torch, torchvision and ipykernel.

Every notebook opens by importing torch and torchvision: about 4 s of a kernel's start on a 2-core machine (PyPI's
CUDA build of torch, and torchvision importing torch._dynamo). Instead of 16 notebooks each importing them again,
`make test` starts one *zygote* (`serve`) that imports them once and forks a kernel for every notebook. `make
portable` (so CI too) runs every notebook again in ordinary kernels.

- The kernel spec `course-forked` (tests/support/jupyter/kernels) runs this file as the kernel's process
  (`stand_in`): it asks the zygote for a kernel and stands for it before jupyter_client, forwarding signals
  (interrupt, terminate) to the kernel's process group and exiting with the kernel's status; killed, its kernel is
  killed too.
- The forked kernel takes the stand-in's standard streams, folder, arguments and environment, starts a session of
  its own and reseeds Python's and NumPy's random numbers. Python's string-hash seed stays the zygote's.
- When no zygote answers, or the environment differs from the zygote's in a variable read as torch loads (another
  ATEN_CPU_CAPABILITY or OMP_NUM_THREADS, say), the stand-in becomes an ordinary kernel instead.
- Linux only: elsewhere no zygote is started, and every kernel is an ordinary one.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pytest

NAME = "course-forked"
JUPYTER_PATH = Path(__file__).resolve().parent / "jupyter"  # holds kernels/course-forked/kernel.json
SOCKET_ENV = "COURSE_KERNEL_ZYGOTE"
# The variables that torch, its maths libraries, NumPy and Python read as they load: a kernel whose environment
# differs from the zygote's in one of them is an ordinary kernel. Any other may differ (the kernel gets its own).
# PYTHONPATH may differ: the kernel puts its own entries first on sys.path, as Python does.
READ_ON_IMPORT = ("ATEN_", "TORCH", "PYTORCH", "CUDA", "CUBLAS", "CUDNN", "NCCL", "NVIDIA", "OMP_", "GOMP_", "KMP_",
                  "MKL", "OPENBLAS", "DNNL", "ONEDNN", "NUMPY", "PYTHON", "LD_")
# PYTHONPATH is applied by the kernel itself; scikit-learn sets the two KMP_ variables when it is imported (a test
# worker that ran t-SNE has them) and sets them again in a kernel that imports it, before its OpenMP loads.
MAY_DIFFER = {"PYTHONPATH", "KMP_DUPLICATE_LIB_OK", "KMP_INIT_AT_FORK"}
FORWARDED = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
             if hasattr(signal, name)]  # this file is imported by conftest.py on Windows too
POLL_S = 0.1


def _send(conn: socket.socket, **message: Any) -> None:
    conn.send(json.dumps(message).encode())


# --- the zygote: imports once, then forks a watcher (and through it a kernel) per connection ----------------------

def serve(path: str) -> None:
    """Listen on the Unix socket `path`; import what every notebook imports; fork a kernel per connection."""
    sys.path.pop(0)  # this file's folder: a forked kernel's sys.path is the one `python -m ipykernel_launcher` has
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path + ".new")
    listener.listen(16)
    os.rename(path + ".new", path)  # stand-ins may connect now (never before listen): they wait while imports run
    before = dict(os.environ)
    import ipykernel.kernelapp  # noqa: F401
    import torch  # noqa: F401
    import torchvision  # noqa: F401

    env = dict(os.environ)
    set_by_imports = {key: value for key, value in env.items() if before.get(key) != value}
    parent = os.getppid()
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the watchers are reaped by the system
    while os.getppid() == parent:  # ends with the pytest process that started it
        if not select.select([listener], [], [], 1.0)[0]:
            continue
        conn, _ = listener.accept()
        sys.stdout.flush()
        sys.stderr.flush()
        if os.fork() == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _watch(conn, env, set_by_imports)
        conn.close()


def _watch(conn: socket.socket, env: dict[str, str], set_by_imports: dict[str, str]) -> None:
    """In a child of the zygote: fork the kernel, pass signals on to it, report its exit; never returns.

    `env` is the zygote's environment after its imports, `set_by_imports` what they set where it was not set (torch
    sets TORCHINDUCTOR_CACHE_DIR): the kernel's is the stand-in's with those, as if it had imported them itself."""
    message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    request = json.loads(message)
    request["env"] = {**set_by_imports, **request["env"]}
    differs = sorted(key for key in env.keys() | request["env"].keys()
                     if key.startswith(READ_ON_IMPORT) and key not in MAY_DIFFER
                     and env.get(key) != request["env"].get(key))
    if differs:
        _send(conn, fallback=f"the environment differs from the zygote's in {', '.join(differs)}")
        os._exit(0)
    pid = os.fork()
    if pid == 0:
        conn.close()
        _become_kernel(request, fds)
    for fd in fds:
        os.close(fd)
    _send(conn, pid=pid)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            _send(conn, status=os.waitstatus_to_exitcode(status))
            os._exit(0)
        if select.select([conn], [], [], POLL_S)[0]:
            data = conn.recv(1 << 10)
            if not data:  # the stand-in is gone (killed): so goes its kernel
                _signal_group(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                os._exit(0)
            _signal_group(pid, json.loads(data)["signal"])


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        try:
            os.killpg(pid, signum)
        except ProcessLookupError:  # the kernel has not made its group yet
            os.kill(pid, signum)


def _become_kernel(request: dict[str, Any], fds: list[int]) -> None:
    """In the forked kernel: take the stand-in's streams, folder, arguments and environment, then run ipykernel."""
    import importlib.util
    import random

    import numpy
    from ipykernel import kernelapp

    os.setsid()  # a process group of its own, as jupyter_client gives a kernel, so signals reach its children
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    for entry in _python_path(os.environ):
        if entry in sys.path:
            sys.path.remove(entry)
    sys.path[:0] = _python_path(request["env"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = [importlib.util.find_spec("ipykernel_launcher").origin, *request["argv"]]
    random.seed()
    numpy.random.seed()
    parent = os.environ.get("JPY_PARENT_PID")  # ipykernel read it on import, in the zygote: give it again
    argv = request["argv"] + ([f"--IPKernelApp.parent_handle={parent}"] if parent else [])
    kernelapp.IPKernelApp.launch_instance(argv=argv)
    sys.exit(0)


def _python_path(env: Mapping[str, str]) -> list[str]:
    return [os.path.abspath(entry) for entry in env.get("PYTHONPATH", "").split(os.pathsep) if entry]


# --- the stand-in: the process jupyter_client starts and watches ------------------------------------------------------

def stand_in(argv: list[str]) -> None:
    """Get a forked kernel for `argv` (`-f CONNECTION_FILE`), or become an ordinary kernel when none is given."""
    try:
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        conn.connect(os.environ[SOCKET_ENV])
        request = {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ)}
        socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
        reply = json.loads(conn.recv(1 << 16) or b'{"fallback": "the zygote closed the connection"}')
    except (AttributeError, KeyError, OSError) as error:  # no Unix socket here, no zygote named, none answering
        reply = {"fallback": repr(error)}
    if "fallback" in reply:
        print(f"forked_kernel: an ordinary kernel, not a forked one: {reply['fallback']}", file=sys.stderr)
        os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", *argv])

    def forward(signum: int, _: object) -> None:
        with contextlib.suppress(OSError):  # the watcher is gone: so is the kernel
            _send(conn, signal=signum)

    for signum in FORWARDED:
        signal.signal(signum, forward)
    parent = os.getppid()
    while os.getppid() == parent:  # the process that started the kernel is gone: close, and the kernel is killed
        if select.select([conn], [], [], 1.0)[0]:
            data = conn.recv(1 << 10)
            code = json.loads(data)["status"] if data else 1
            sys.exit(code if code >= 0 else 128 - code)


# --- pytest: one zygote for the run, for `--nbval-kernel-name course-forked` -----------------------------------------

@contextlib.contextmanager
def zygote() -> Iterator[str]:
    """Start a zygote on a fresh socket (named in SOCKET_ENV meanwhile); stop it on leaving."""
    folder = tempfile.mkdtemp(prefix="course-zygote-")
    path = os.path.join(folder, "socket")
    previous = os.environ.get(SOCKET_ENV)
    os.environ[SOCKET_ENV] = path
    process = subprocess.Popen([sys.executable, __file__, "serve", path])
    try:
        while process.poll() is None and not os.path.exists(path):
            time.sleep(0.01)
        yield path
    finally:
        if previous is None:
            del os.environ[SOCKET_ENV]
        else:
            os.environ[SOCKET_ENV] = previous
        process.terminate()
        process.wait()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        os.rmdir(folder)


def kernel_name(ordinary: str = "python3") -> str:
    """The kernel for a test to start: a forked one while a zygote runs (`make test`), else `ordinary`."""
    return NAME if os.environ.get(SOCKET_ENV) else ordinary


def install_as_python3(data_dir: Path) -> None:
    """While a zygote runs, make the kernel spec `python3` of a Jupyter data folder (a JupyterLab server's, with
    JUPYTER_DATA_DIR) a forked kernel, under the name Lab shows for ipykernel's own."""
    if os.environ.get(SOCKET_ENV):
        spec = json.loads((JUPYTER_PATH / "kernels" / NAME / "kernel.json").read_text())
        spec.update(argv=[sys.executable, __file__, "-f", "{connection_file}"], display_name="Python 3 (ipykernel)")
        (data_dir / "kernels" / "python3").mkdir(parents=True)
        (data_dir / "kernels" / "python3" / "kernel.json").write_text(json.dumps(spec))


_running: list[contextlib.AbstractContextManager] = []


def pytest_configure(config: pytest.Config) -> None:
    """With `--nbval-kernel-name course-forked`: the kernel spec's folder on JUPYTER_PATH, and a zygote, started by
    pytest (or xdist's controller, for all its workers, which inherit its environment)."""
    if getattr(config.option, "nbval_kernel_name", None) != NAME or hasattr(config, "workerinput"):
        return
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(JUPYTER_PATH), os.environ.get("JUPYTER_PATH")]))
    if sys.platform == "linux":
        context = zygote()
        context.__enter__()
        _running.append(context)


def pytest_unconfigure(config: pytest.Config) -> None:
    while _running:
        _running.pop().__exit__(None, None, None)


if __name__ == "__main__":
    serve(sys.argv[2]) if sys.argv[1] == "serve" else stand_in(sys.argv[1:])
