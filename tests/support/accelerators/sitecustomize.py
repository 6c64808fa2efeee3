"""`make paths` puts this folder on PYTHONPATH: in every Python it starts (the notebook kernels too), torch then
reports a CUDA and an MPS device, as on a laptop with an NVIDIA GPU or an Apple-silicon Mac. Nothing runs on them:
the course must still choose the CPU by itself.

Only code outside torch and torchvision (the course's, a notebook's) is told so: torch's own internals (Adam's
step asks torch.accelerator, which asks torch.cuda.is_available, then reads the device's streams) go on to use a
device they see, so they see this machine as it is, as they would see a real GPU as it is."""

import functools
import importlib.util
import sys

REAL = ("torch", "torchvision")


def _seen_by_the_course(real):
    """is_available() that says True, except to torch's and torchvision's own modules."""

    def is_available():
        caller = sys._getframe(1).f_globals.get("__name__", "")
        return real() if caller.split(".")[0] in REAL else True

    return functools.update_wrapper(is_available, real, updated=())  # with __wrapped__, which torch._dynamo reads


class _SeeAccelerators:
    """A finder that lets torch import as usual, then patches torch.cuda and torch.backends.mps."""

    def find_spec(self, name, path=None, target=None):
        if name != "torch":
            return None
        sys.meta_path.remove(self)  # find the real torch, once
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            import torch.backends.mps

            module.cuda.is_available = _seen_by_the_course(module.cuda.is_available)
            torch.backends.mps.is_available = _seen_by_the_course(torch.backends.mps.is_available)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _SeeAccelerators())
