"""Speed as a share of what the machine computes (as nanoGPT's estimate_mfu): a training step's
FLOPs per second over the best dense rate measured on the same device in the same process.

The ceiling is the best of a few dense float32 probes, a large matmul and a large convolution,
because no nominal peak can be read from a CPU here and the shared machines' rates move from one
day to the next: only a ratio measured in one run means anything.
"""

from __future__ import annotations

import time

import torch

MATMUL = 2048  # n of the n x n x n matmul probe
CONV = (32, 128, 32, 3)  # batch, channels in = out, size, kernel of the convolution probe


def _best_seconds(run, device: torch.device, repeats: int) -> float:
    def synced():
        run()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    synced()  # warm-up: allocation, kernel choice
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        synced()
        best = min(best, time.perf_counter() - start)
    return best


def dense_ceiling(device: torch.device, repeats: int = 5) -> dict:
    """{"flop_per_s": the best rate, "probe": which probe gave it, "probes": each probe's rate}."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(MATMUL, MATMUL, generator=generator).to(device)
    b = torch.randn(MATMUL, MATMUL, generator=generator).to(device)
    batch, channels, size, kernel = CONV
    x = torch.randn(batch, channels, size, size, generator=generator).to(device)
    w = torch.randn(channels, channels, kernel, kernel, generator=generator).to(device)
    probes = {
        f"float32 matmul {MATMUL}^3": (2 * MATMUL**3, lambda: a @ b),
        f"float32 conv {kernel}x{kernel}, {channels}->{channels} ch, {size}x{size}, batch {batch}": (
            2 * batch * channels * size * size * channels * kernel * kernel,
            lambda: torch.nn.functional.conv2d(x, w, padding=kernel // 2),
        ),
    }
    with torch.no_grad():
        rates = {name: flops / _best_seconds(run, device, repeats) for name, (flops, run) in probes.items()}
    best = max(rates, key=rates.get)
    return {"flop_per_s": rates[best], "probe": best, "probes": {k: round(v) for k, v in rates.items()}}


def step_speed(flop_per_step: float, step_seconds: float | None, images_per_step: int, ceiling: dict) -> dict:
    """The figures a benchmark row reports: FLOPs per image, achieved FLOP/s, MFU, and the ceiling."""
    achieved = flop_per_step / step_seconds if step_seconds else None
    return {
        "train_flop_per_image": round(flop_per_step / images_per_step),
        "train_flop_per_s": achieved and round(achieved),
        "mfu": achieved and round(achieved / ceiling["flop_per_s"], 3),
        "ceiling": ceiling,
    }
