"""The plain-PyTorch reference loop: a plugin's own training_step with no engine around it, the
yardstick of the engine's overhead (`zoo benchmark`'s engine / plain column, benchmarks/engine_overhead.py)."""

from __future__ import annotations

import time

import torch

from zoo.data.pixels import to_model_range
from zoo.training import speed
from zoo.training.ema import EMA


class RecordingStep:
    """A TrainStep (zoo.interfaces) with no engine, which keeps what the plugin asked of it.

    With `optimizers`, each `optimize` does what a hand-written loop does: backward, step, zero_grad
    (through `scaler` for fp16). Without, it only backpropagates (`backward=True`) or only records.
    `updates` lists the optimizer names in the order they were asked for, `losses` the losses
    (detached). The plain reference loop trains with it; zoo.testing offers it to plugin tests.
    """

    def __init__(
        self,
        index: int = 0,
        optimizers: dict | None = None,
        device: torch.device | str = "cpu",
        scaler=None,
        backward: bool = True,
    ):
        self.index, self.device = index, torch.device(device)
        self._optimizers, self._scaler, self._backward = optimizers, scaler, backward
        self.updates: list[str] = []
        self.losses: list[torch.Tensor] = []

    def unwrap(self, module: torch.nn.Module) -> torch.nn.Module:
        return module

    def optimize(self, optimizer: str, loss: torch.Tensor) -> None:
        self.updates.append(optimizer)
        self.losses.append(loss.detach())
        if self._optimizers is None:
            if self._backward:
                loss.backward()
            return
        opt = self._optimizers[optimizer]
        if self._scaler is None:
            loss.backward()
            opt.step()
        else:
            self._scaler.scale(loss).backward()
            self._scaler.step(opt)
            self._scaler.update()
        opt.zero_grad(set_to_none=True)


class PlainLoop:
    """The plugin's own training_step in a hand-written loop: its optimizers, LR schedulers and EMA,
    the same batch size and data, no engine."""

    def __init__(self, spec, config, device: torch.device):
        torch.manual_seed(config.train.seed)
        self.device = device
        self.plugin = plugin = spec.build(config).to(device)
        self.optimizers = plugin.configure_optimizers()
        self.lr_schedulers = plugin.configure_lr_schedulers(self.optimizers)
        self.ema = EMA.of(plugin, plugin.modules, config.train.ema_decay)
        speed.apply(plugin.modules, config.train)  # train.channels_last, train.compile: as in the engine
        precision = config.train.mixed_precision if device.type == "cuda" else "no"
        self.autocast_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
        self.scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
        self.loader = torch.utils.data.DataLoader(
            plugin.train_dataset(), batch_size=config.train.batch_size, shuffle=True, drop_last=True
        )
        self.batches = iter(self.loader)
        self.steps_taken = 0
        for module in plugin.modules.values():
            module.train()

    def step(self) -> None:
        """One training step; the loop counts them (a plugin's step index decides e.g. n_critic)."""
        index = self.steps_taken
        try:
            batch = next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            batch = next(self.batches)
        device = self.device
        batch = to_model_range(
            {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
        )
        with torch.autocast(device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
            logs = self.plugin.training_step(batch, RecordingStep(index, self.optimizers, device, self.scaler))
        for scheduler in self.lr_schedulers.values():
            scheduler.step()
        if self.ema is not None:
            self.ema.update(self.plugin.modules, index)
        [float(v) for v in logs.values()]  # a plain loop reads its losses too (and waits for the GPU)
        self.steps_taken += 1

    def seconds_per_step(self, steps: int, warmup: int) -> float:
        """Median seconds of `steps` steps after `warmup` more."""
        import statistics

        times = []
        for _ in range(warmup + steps):
            start = time.perf_counter()
            self.step()
            times.append(time.perf_counter() - start)
        return statistics.median(times[warmup:])

    def flops_per_step(self, steps: int = 5) -> float:
        """FLOPs of one training step (every forward and backward pass, D and G alike) as torch's
        FlopCounterMode counts them: matmuls, convolutions and attention, not elementwise work. Averaged
        over `steps` steps after a first step (untimed, uncounted) if none was taken yet, so that a cycle
        such as WGAN-GP's 5 critic steps per generator step is counted whole. Counted on the plain forward:
        a compiled one (train.compile) does the same arithmetic."""
        if not self.steps_taken:
            self.step()
        with speed.eager(), _total_flop_counter() as counter:
            for _ in range(steps):
                self.step()
        return counter.get_total_flops() / steps


def plain_step_seconds(spec, config, device: torch.device, steps: int, warmup: int) -> float:
    """Seconds per step of the plugin's own training_step in a plain PyTorch loop (PlainLoop). Median
    over steps after `warmup`."""
    return PlainLoop(spec, config, device).seconds_per_step(steps, warmup)


def training_step_flops(spec, config, device: torch.device, steps: int = 5) -> float:
    """PlainLoop.flops_per_step of a fresh loop."""
    return PlainLoop(spec, config, device).flops_per_step(steps)


def _total_flop_counter():
    """torch's FlopCounterMode, counting the total only. Its per-module breakdown hooks every module's
    backward, which autograd.grad refuses inside a gradient penalty (WGAN-GP, R1)."""
    from torch.utils.flop_counter import FlopCounterMode

    class GlobalOnly:
        parents = {"Global"}

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    counter = FlopCounterMode(display=False)
    counter.mod_tracker = GlobalOnly()
    return counter
