"""The exponential moving average of a plugin's weights that sampling uses (train.ema_decay > 0)."""

from __future__ import annotations

import copy

import torch
from torch import nn

from zoo.interfaces import Plugin


class EMA:
    """Exponential moving averages of some modules' weights (buffers are copied as they are).

    The decay warms up as min(decay, (1 + t) / (10 + t)) at update t, so that early averages are not
    dominated by the random initial weights. It depends on the step only, so resume stays exact.
    """

    def __init__(self, modules: dict[str, nn.Module], decay: float):
        self.decay = decay
        self.shadows = {name: copy.deepcopy(m).eval().requires_grad_(False) for name, m in modules.items()}

    @classmethod
    def of(cls, plugin: Plugin, modules: dict[str, nn.Module], decay: float) -> EMA | None:
        """The EMA a plugin keeps of `modules` (its `ema_modules`), or None: none named, or decay 0."""
        if decay <= 0 or not plugin.ema_modules:
            return None
        return cls({name: modules[name] for name in plugin.ema_modules}, decay)

    def load(self, states: dict[str, dict]) -> None:
        """Restore the shadows a checkpoint saved (state dicts by module name; others stay as they are)."""
        for name, shadow in self.shadows.items():
            if name in states:
                shadow.load_state_dict(states[name])

    def decay_at(self, step: int) -> float:
        return min(self.decay, (1 + step) / (10 + step))

    @torch.no_grad()
    def update(self, modules: dict[str, nn.Module], step: int) -> None:
        weight = 1.0 - self.decay_at(step)
        for name, shadow in self.shadows.items():
            live = modules[name]
            torch._foreach_lerp_(list(shadow.parameters()), list(live.parameters()), weight)
            for shadow_buffer, live_buffer in zip(shadow.buffers(), live.buffers()):
                shadow_buffer.copy_(live_buffer)
