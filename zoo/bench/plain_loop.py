"""The plain-PyTorch reference loop: a plugin's own training_step with no engine around it, the
yardstick of the engine's overhead (`zoo benchmark`'s engine / plain column, benchmarks/engine_overhead.py)."""

from __future__ import annotations

import time

import torch

from zoo.data.pixels import to_model_range


class PlainStep:
    """TrainStep without Accelerate: backward, step, zero_grad, as a hand-written loop does them."""

    def __init__(self, index: int, optimizers: dict, device: torch.device, scaler=None):
        self.index, self.optimizers, self.device, self.scaler = index, optimizers, device, scaler

    def unwrap(self, module: torch.nn.Module) -> torch.nn.Module:
        return module

    def optimize(self, optimizer: str, loss: torch.Tensor) -> None:
        opt = self.optimizers[optimizer]
        if self.scaler is None:
            loss.backward()
            opt.step()
        else:
            self.scaler.scale(loss).backward()
            self.scaler.step(opt)
            self.scaler.update()
        opt.zero_grad(set_to_none=True)


def plain_step_seconds(spec, config, device: torch.device, steps: int, warmup: int) -> float:
    """Seconds per step of the plugin's own training_step in a plain PyTorch loop: its optimizers, LR
    schedulers and EMA, the same batch size and data, no engine. Median over steps after `warmup`."""
    import statistics

    from zoo.ema import EMA

    torch.manual_seed(config.train.seed)
    plugin = spec.build(config).to(device)
    optimizers = plugin.configure_optimizers()
    schedulers = plugin.configure_schedulers(optimizers)
    ema = EMA.of(plugin, plugin.modules, config.train.ema_decay)
    precision = config.train.mixed_precision if device.type == "cuda" else "no"
    autocast_dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision)
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    loader = torch.utils.data.DataLoader(plugin.train_dataset(), batch_size=config.train.batch_size, shuffle=True, drop_last=True)
    for module in plugin.modules.values():
        module.train()
    batches, times = iter(loader), []
    for index in range(warmup + steps):
        start = time.perf_counter()
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(loader)
            batch = next(batches)
        batch = to_model_range({k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()})
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            logs = plugin.training_step(batch, PlainStep(index, optimizers, device, scaler))
        for scheduler in schedulers.values():
            scheduler.step()
        if ema is not None:
            ema.update(plugin.modules, index)
        [float(v) for v in logs.values()]  # a plain loop reads its losses too (and waits for the GPU)
        if index >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)
