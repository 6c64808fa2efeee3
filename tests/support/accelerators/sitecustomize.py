"""`make paths` puts this folder on PYTHONPATH: in every Python it starts (the notebook kernels too), torch then
reports a CUDA and an MPS device, as on a laptop with an NVIDIA GPU or an Apple-silicon Mac. Nothing runs on them:
the course must still choose the CPU by itself."""

import functools
import importlib.util
import sys


class _SeeAccelerators:
    """A finder that lets torch import as usual, then makes torch.cuda and torch.backends.mps say available."""

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

            # cached like torch's own (torch._dynamo reads mps.is_available.__wrapped__)
            module.cuda.is_available = functools.lru_cache(lambda: True)
            torch.backends.mps.is_available = functools.lru_cache(lambda: True)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _SeeAccelerators())
