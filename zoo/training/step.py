"""What the engine hands a plugin's training_step and what one step needs besides: the TrainStep
(`AcceleratedStep`), the seed of a step's noise, and the Ctrl-C / SIGTERM request to stop."""

from __future__ import annotations

import signal
import sys
import threading

import numpy as np
import torch
from torch import nn

from zoo.files import interrupt_or_defer


class AcceleratedStep:
    """The engine's TrainStep (zoo.interfaces): updates go through Accelerate."""

    def __init__(self, index: int, accelerator, optimizers):
        self.index = index
        self._accelerator = accelerator
        self._optimizers = optimizers

    @property
    def device(self) -> torch.device:
        return self._accelerator.device

    def unwrap(self, module: nn.Module) -> nn.Module:
        return self._accelerator.unwrap_model(module)

    def optimize(self, optimizer: str, loss: torch.Tensor) -> None:
        # backward -> step -> zero_grad, in this order: Accelerate skips step and zero_grad on
        # micro-batches that only accumulate, so zeroing first would wipe the accumulated gradients.
        opt = self._optimizers[optimizer]
        self._accelerator.backward(loss)
        opt.step()
        opt.zero_grad(set_to_none=True)


class StopRequest:
    """Ctrl-C / SIGTERM ask the loop to stop after the current step and save; a second Ctrl-C aborts."""

    def __init__(self):
        self.requested = False
        self._previous = {}

    def _handle(self, signum, frame):
        if self.requested:  # abort, but not halfway through a file (the CLI's own handler, zoo.files)
            interrupt_or_defer(signum, frame)
            return
        self.requested = True
        print("\nstopping after this step and saving a checkpoint (Ctrl-C again to abort)", file=sys.stderr)

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def step_seed(seed: int, step: int, micro_batch: int, rank: int) -> int:
    return int(np.random.SeedSequence([seed, step, micro_batch, rank]).generate_state(1)[0])
