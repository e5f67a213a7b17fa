"""`zoo benchmark`'s worker: one plugin measured in its own process (`python -m zoo.bench.worker PLAN RESULT`),
so that its peak memory is its own and a crash is one failed row, not the end of the suite."""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

import torch

from zoo.bench.common import device_label, trained_model
from zoo.bench.flops import dense_ceiling, step_speed
from zoo.bench.plain_loop import PlainLoop
from zoo.bench.plan import Plan
from zoo.bench.quality import METRICS, digit_metrics
from zoo.config import read_yaml
from zoo.errors import ZooError
from zoo.files import write_text_atomic
from zoo.interfaces import Classifier, Generator, Sampler, class_conditional
from zoo.registry import Registry
from zoo.runs import folders
from zoo.sampling import draw, settings
from zoo.training.run_log import read_metrics
from zoo.viz import save_class_grid, save_grid


def measure(p: Plan) -> dict:
    started = time.perf_counter()
    spec = Registry.discover().get(p.name)
    _say(f"training ({p.run_dir})")
    plugin, train_wall = trained_model(p.name, Path(p.run_dir), p.overrides, p.files)
    config = plugin.config
    # What the row says the model learned from is what its run folder says, not what was asked for.
    trained_on = read_yaml(Path(p.run_dir) / folders.CONFIG)["data"]["root"] or "embedded digits"
    batch = config.train.batch_size * config.train.grad_accum
    engine_step = _engine_step_seconds(Path(p.run_dir), batch)
    _say("the same steps in a plain PyTorch loop")
    plain = PlainLoop(spec, config, plugin.device)
    plain_step = plain.seconds_per_step(steps=min(20, max(4, p.steps // 3)), warmup=2)
    _say("FLOPs of a step, and the machine's dense ceiling")
    try:
        flop_per_step = plain.flops_per_step()  # the same loop: its model and data are built once
    except Exception as exc:  # torch's counter refusing a step costs the row its MFU, not its other figures
        flop_per_step, flop_error = None, f"{type(exc).__name__}: {exc}"
    # The plain loop's step time, measured just now beside the ceiling: a reused run's log may be from another day.
    speed = (
        step_speed(flop_per_step, plain_step, batch, dense_ceiling(plugin.device))
        if flop_per_step
        else {"mfu": None, "mfu_note": f"FLOPs not counted: {flop_error}"}
    )
    _say(f"{p.samples} outputs")
    outputs, labels, sample_s, evals = benchmark_outputs(plugin, p.samples)
    count = len(outputs) if outputs is not None else p.samples
    if outputs is not None:
        if labels is None:
            save_grid(outputs[:64], p.grid, nrow=8)
        else:  # rows = classes: the outputs are drawn class by class
            save_class_grid(outputs, plugin.num_classes, p.grid)
    quality = {m: METRICS[m](plugin, outputs, labels, p) for m in p.metrics or digit_metrics(plugin)}
    # Beside the run, for the model card `zoo export` writes from it.
    scores = {"date": time.strftime("%Y-%m-%d"), "device": device_label(), "samples": count, "quality": quality}
    write_text_atomic(Path(p.run_dir) / folders.SCORES, json.dumps(scores, indent=2, default=str) + "\n")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cuda_peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    return {
        "plugin": p.name,
        "family": p.family,
        "status": "ok",
        "version": spec.version,
        "source": spec.source,
        "device": device_label(),
        "data": trained_on,
        "steps": p.steps,
        "batch_size": batch,
        "train_images_per_s": round(batch / engine_step, 1) if engine_step else None,
        "train_wall_s": round(train_wall, 1) if train_wall else None,
        "engine_step_s": engine_step,
        "plain_step_s": plain_step,
        **speed,
        "engine_vs_plain": round(plain_step / engine_step, 3) if engine_step else None,
        "outputs": count,
        "sample_images_per_s": round(count / sample_s, 1),
        "network_evals_per_image": evals,
        "peak_rss_mib": round(peak_mib),
        "cuda_peak_mib": cuda_peak and round(cuda_peak),
        "quality": quality,
        "grid": p.grid if outputs is not None else None,
        "wall_s": round(time.perf_counter() - started, 1),
    }


def _say(message: str) -> None:
    print(f"      {message}", file=sys.stderr, flush=True)


def _engine_step_seconds(run_dir: Path, images_per_step: int) -> float | None:
    """Median step time in the engine's log (images_per_step / images_per_s per window), without its
    first window (start-up, first batches)."""
    import statistics

    speeds = [r["images_per_s"] for r in read_metrics(run_dir) if r.get("images_per_s")]
    speeds = speeds[1:] or speeds
    return statistics.median(images_per_step / s for s in speeds) if speeds else None


@torch.no_grad()
def benchmark_outputs(plugin, n: int) -> tuple[torch.Tensor | None, torch.Tensor | None, float, float]:
    """(images or None, requested labels or None, seconds, network evaluations per output)."""

    # Rows through the plugin's first inference network (the UNet, the generator, the feature extractor):
    # a guided sampling step passes each image twice.
    rows = [0]
    entry = plugin.modules[plugin.export_modules[0]]
    hooks = [entry.register_forward_pre_hook(lambda _m, args: rows.__setitem__(0, rows[0] + len(args[0])))]
    try:
        start = time.perf_counter()
        if isinstance(plugin, (Generator, Sampler)):
            # Class by class (0, 0, ..., 1, 1, ...), so that the picture can show one row per class.
            classes = plugin.num_classes if class_conditional(plugin) else 0
            labels = torch.arange(classes).repeat_interleave(max(1, n // classes)) if classes else None
            images = draw(plugin, n if labels is None else len(labels), 0, labels, settings(plugin))
        elif isinstance(plugin, Classifier):
            size = plugin.config.data.image_size
            generator = torch.Generator().manual_seed(0)
            inputs = torch.rand(n, 3, size, size, generator=generator) * 2 - 1
            plugin.predict(inputs.to(plugin.device))
            images = labels = None
        else:
            raise ZooError(f"zoo benchmark does not know the family of {type(plugin).__name__}")
        seconds = time.perf_counter() - start
        n = len(images) if images is not None else n
    finally:
        for hook in hooks:
            hook.remove()
    return images, labels, seconds, round(rows[0] / n, 2)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="zoo benchmark's worker: one plugin, in its own process")
    parser.add_argument("plan", help="the Plan, as JSON")
    parser.add_argument("result", help="where to write the result JSON")
    args = parser.parse_args(argv)
    p = Plan(**json.loads(args.plan))
    try:
        result = measure(p)
    except Exception as exc:  # any plugin failure becomes its row in the report, never the suite's end
        if not isinstance(exc, ZooError):
            traceback.print_exc()
        error = str(exc) if isinstance(exc, ZooError) else f"{type(exc).__name__}: {exc}"
        result = {"plugin": p.name, "family": p.family, "status": "failed", "error": error}
    Path(args.result).write_text(json.dumps(result, indent=2))
    sys.exit(0 if result["status"] == "ok" else 1)


if __name__ == "__main__":
    main()
