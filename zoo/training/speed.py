"""Two opt-in ways to run the same step faster: `train.channels_last` and `train.compile`.

Neither changes what a step computes, only how: channels_last stores each module's 4-d weights as
NHWC, and convolutions then keep their activations in that layout, which oneDNN (CPU) and cuDNN
(tensor cores) run without reordering; train.compile runs each module's forward through
torch.compile (`nn.Module.compile`, so parameter names, checkpoints and exports stay as they are), with
train.compile_backend (inductor; `aot_eager` traces without generating code).
Whether either pays depends on the machine and the network: benchmarks/gan_step_mfu.py measures
them (`--set train.channels_last=true`, `--set train.compile=true`).

torch.compile cannot differentiate a compiled graph twice, which a gradient penalty does (WGAN-GP,
R1, R2): `eager` runs such a pass without the compiled code.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from zoo.errors import ConfigError


def compile_backend(train) -> str | None:
    """The torch.compile backend train.compile and train.compile_backend ask for, or None; a
    ConfigError names a backend torch does not have."""
    if not train.compile:
        return None
    backend = train.compile_backend
    backends = torch.compiler.list_backends(exclude_tags=())
    if backend not in backends:
        raise ConfigError(
            f"train.compile_backend must be a torch.compile backend ({', '.join(sorted(backends))}), got '{backend}'"
        )
    return backend


def apply(modules: dict[str, nn.Module], train) -> None:
    """Put train.channels_last and train.compile into effect on `modules`, in place."""
    backend = compile_backend(train)
    for module in modules.values():
        if train.channels_last:
            module.to(memory_format=torch.channels_last)
        if backend:
            module.compile(backend=backend)


def eager():
    """A context in which compiled modules run their plain forward (a pass that will be
    differentiated twice); a no-op when nothing is compiled."""
    if torch.compiler.is_compiling():  # already inside a graph being traced: nothing to switch
        return contextlib.nullcontext()
    return torch.compiler.set_stance("force_eager")
