"""`zoo benchmark`: every plugin measured the same way, from the `BenchmarkSpec` it declares.

For each plugin: train it (through the engine, in a run folder that is reused when finished and
resumed when not), then measure

- training throughput: images/s from the engine's own log, warm-up window left out;
- engine overhead: the plugin's `training_step` in a plain PyTorch loop (same model, optimizers, LR
  schedulers, EMA and data; no Accelerate, logging or checkpoints) against the engine's step time;
- sampling throughput: images/s of `generate` / `sample` / `predict`, and network evaluations per
  image (rows through the plugin's networks, counted by forward hooks, so guidance batches count);
- peak memory: each plugin runs in its own process, so its peak RSS (and CUDA peak) is its own;
- quality: the metrics its spec names (METRICS), each reported with how it was measured.

A plugin whose process fails is reported with its error and the others go on; a plugin without a
spec is listed as such.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import json
import resource
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Callable, Sequence

import torch

from zoo.benchmarking import device_label, stamp, trained_model, write_report
from zoo.data.pixels import to_model_range
from zoo.errors import ZooError

EVALUATOR_METRICS = {"digit_fd", "digit_accuracy"}  # metrics that need a digit evaluator
EVALUATOR = "digit_classifier"
EVALUATOR_STEPS = {"quick": 150, "full": 1500}


@dataclasses.dataclass
class Plan:
    """One plugin's benchmark, resolved from its spec and the command line (JSON-able, for the worker)."""

    name: str
    family: str
    data: str  # data.root ("" = the embedded digits)
    files: list[str]
    overrides: list[str]
    steps: int
    samples: int
    metrics: list[str]
    run_dir: str
    grid: str  # where the picture of its outputs goes
    evaluator: dict | None = None  # file, real_accuracy, data: the digit evaluator for EVALUATOR_METRICS


def plan(spec, data_root: str | None, quick: bool, steps: int | None, samples: int | None, runs: Path, out_dir: Path,
         name: str) -> Plan:
    bench = spec.plugin_class.benchmark
    root = Path(data_root).expanduser().resolve() if data_root else None
    data = str(root / bench.data) if root and bench.data else ""
    if data and not Path(data).exists():
        raise ZooError(f"{spec.name}'s benchmark trains on {bench.data} under --data-root, and {data} does not exist")
    files = []
    if root and bench.config and not quick:
        files.append(str(spec.config_path.with_name(bench.config)))
    steps = steps or (bench.quick_steps if quick else bench.steps)
    # Empty: the family's digit metrics, chosen by the worker once the plugin is built (digit_metrics).
    metrics = list(bench.metrics) if data and bench.metrics else []
    overrides = [
        f"data.root={data}", f"train.steps={steps}", "train.sample_every=0",
        f"train.log_every={max(1, min(50, steps // 6))}", f"train.checkpoint_every={max(steps, 1)}",
        *(bench.quick_overrides if quick else bench.overrides),
    ]
    return Plan(
        name=spec.name, family=spec.family, data=data, files=files, overrides=overrides, steps=steps,
        samples=samples or (bench.quick_samples if quick else bench.samples), metrics=metrics,
        run_dir=str(runs / f"{spec.name}-{steps}steps"), grid=str(out_dir / f"{name}-{spec.name}.png"),
    )


def run_suite(names: Sequence[str], data_root: str | None, quick: bool, steps: int | None, out_dir: Path,
              samples: int | None = None, echo: Callable[[str], None] = print) -> list[Path]:
    """Benchmark `names` (every registered plugin when empty); write NAME.json and NAME.md to out_dir."""
    from zoo.registry import Registry

    started = time.perf_counter()
    registry = Registry.discover()
    selected = list(names) or registry.names()
    specs = [registry.get(n) for n in selected]  # an unknown name fails here, before any training
    name = stamp("benchmark" if names else "benchmark-all", quick)
    runs = Path("runs/benchmark") / name
    rows, plans = {}, []
    for spec in specs:
        error = spec.load_error
        if error:
            rows[spec.name] = {"plugin": spec.name, "status": "failed to load", "error": error}
        elif spec.plugin_class.benchmark is None:
            rows[spec.name] = {"plugin": spec.name, "family": spec.family, "status": "no benchmark spec"}
        else:
            try:
                plans.append(plan(spec, data_root, quick, steps, samples, runs, out_dir, name))
            except ZooError as exc:  # e.g. its data is not under --data-root: the others still run
                rows[spec.name] = {"plugin": spec.name, "family": spec.family, "status": "failed", "error": str(exc)}
    evaluators = {}
    for p in plans:
        if EVALUATOR_METRICS & set(p.metrics) or (not p.metrics and p.family in ("generator", "sampler")):
            if p.data not in evaluators:
                echo(f"digit evaluator for {p.data or 'the embedded digits'} ({EVALUATOR})")
                evaluators[p.data] = digit_evaluator(p.data, steps or EVALUATOR_STEPS["quick" if quick else "full"], runs)
            p.evaluator = evaluators[p.data]
    for i, p in enumerate(plans, 1):
        echo(f"[{i}/{len(plans)}] {p.name} ({p.family}): {p.steps} steps on {p.data or 'the embedded digits'}, "
             f"{p.samples} outputs, {', '.join(p.metrics) or 'its digit metrics'}")
        rows[p.name] = _run_in_own_process(p)
        row = rows[p.name]
        echo(f"      {p.name}: " + (f"{row['status']}: {row.get('error', '')}" if row["status"] != "ok" else _summary(row)))
    report = {
        "suite": name, "date": datetime.date.today().isoformat(), "device": device_label(), "quick": quick,
        "data_root": str(data_root or ""), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
        "wall_s": round(time.perf_counter() - started, 1), "evaluators": evaluators,
        "plugins": [rows[s.name] for s in specs],
    }
    paths = write_report(out_dir, name, report, markdown(report))
    return paths + [Path(r["grid"]) for r in report["plugins"] if r.get("grid")]


def digit_evaluator(data: str, steps: int, runs: Path) -> dict:
    """The digit classifier that reads generated digits, trained on the same digits and cached in `runs`:
    {file, steps, data (its held-out split), real_accuracy (on that split)}."""
    from zoo.data.digits import labelled_digits
    from zoo.metrics.accuracy import domain_accuracy

    run_dir = runs / f"evaluator-{Path(data).name or 'embedded'}-{steps}steps"
    evaluator, _ = trained_model(EVALUATOR, run_dir, [f"data.root={data}", f"train.steps={steps}", "train.sample_every=0"])
    held_out = labelled_digits(data, "val", evaluator.config.data.image_size)
    return {"file": str(run_dir / "model.safetensors"), "steps": steps, "data": held_out.describe(),
            "real_accuracy": domain_accuracy(evaluator, held_out)}


def _run_in_own_process(p: Plan) -> dict:
    """The worker's result; its progress bars and messages go straight to this terminal."""
    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "result.json"
        worker = subprocess.Popen([sys.executable, "-m", "zoo.suite", json.dumps(dataclasses.asdict(p)), str(result)])
        try:
            code = worker.wait()
        except KeyboardInterrupt:
            worker.wait()  # Ctrl-C reached the worker too: its training saves a checkpoint and stops
            raise ZooError(f"interrupted during {p.name}; finished work is kept in {Path(p.run_dir).parent}: "
                           "run the same command again to go on from there") from None
        if result.is_file():
            return json.loads(result.read_text())
        return {"plugin": p.name, "family": p.family, "status": "failed", "error": f"its process ended with exit code {code}"}


# --- the worker: one plugin, in its own process ---------------------------------------------------

def measure(p: Plan) -> dict:
    from zoo.registry import Registry

    started = time.perf_counter()
    spec = Registry.discover().get(p.name)
    _say(f"training ({p.run_dir})")
    plugin, train_wall = trained_model(p.name, Path(p.run_dir), p.overrides, p.files)
    config = plugin.config
    batch = config.train.batch_size * config.train.grad_accum
    engine_step = _engine_step_seconds(Path(p.run_dir), batch)
    _say("the same steps in a plain PyTorch loop")
    plain_step = plain_step_seconds(spec, config, plugin.device, steps=min(20, max(4, p.steps // 3)), warmup=2)
    _say(f"{p.samples} outputs")
    outputs, labels, sample_s, evals = benchmark_outputs(plugin, p.samples)
    count = len(outputs) if outputs is not None else p.samples
    if outputs is not None:
        from zoo.viz import save_class_grid, save_grid

        if labels is None:
            save_grid(outputs[:64], p.grid, nrow=8)
        else:  # rows = classes: the outputs are drawn class by class
            save_class_grid(outputs, plugin.num_classes, p.grid)
    quality = {m: METRICS[m](plugin, outputs, labels, p) for m in p.metrics or digit_metrics(plugin)}
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cuda_peak = torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    return {
        "plugin": p.name, "family": p.family, "status": "ok", "version": spec.version, "source": spec.source,
        "device": device_label(), "data": p.data or "embedded digits", "steps": p.steps, "batch_size": batch,
        "train_images_per_s": round(batch / engine_step, 1) if engine_step else None,
        "train_wall_s": round(train_wall, 1) if train_wall else None,
        "engine_step_s": engine_step, "plain_step_s": plain_step,
        "engine_vs_plain": round(plain_step / engine_step, 3) if engine_step else None,
        "outputs": count, "sample_images_per_s": round(count / sample_s, 1),
        "network_evals_per_image": evals, "peak_rss_mib": round(peak_mib), "cuda_peak_mib": cuda_peak and round(cuda_peak),
        "quality": quality, "grid": p.grid if outputs is not None else None, "wall_s": round(time.perf_counter() - started, 1),
    }


def digit_metrics(plugin) -> list[str]:
    """How a plugin is scored on digits when its spec names no metrics: class-conditional generators
    and samplers by the evaluator's accuracy on the requested digit (and the digit FD), unconditional
    generators by the digit FD, classifiers by their own held-out accuracy."""
    from zoo.interfaces import Classifier, class_conditional

    if class_conditional(plugin):
        return ["digit_accuracy", "digit_fd"]
    return ["held_out"] if isinstance(plugin, Classifier) else ["digit_fd"]


def _say(message: str) -> None:
    print(f"      {message}", file=sys.stderr, flush=True)


def _engine_step_seconds(run_dir: Path, images_per_step: int) -> float | None:
    """Median step time in the engine's log (images_per_step / images_per_s per window), without its
    first window (start-up, first batches)."""
    import statistics

    from zoo.metric_log import read_metrics

    speeds = [r["images_per_s"] for r in read_metrics(run_dir) if r.get("images_per_s")]
    speeds = speeds[1:] or speeds
    return statistics.median(images_per_step / s for s in speeds) if speeds else None


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

    from zoo.engine import EMA

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


@torch.no_grad()
def benchmark_outputs(plugin, n: int) -> tuple[torch.Tensor | None, torch.Tensor | None, float, float]:
    """(images or None, requested labels or None, seconds, network evaluations per output)."""
    from zoo.interfaces import Classifier, Generator, Sampler, class_conditional
    from zoo.sampling import draw, settings

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


# --- quality metrics: name -> fn(plugin, images, labels, plan) -> dict with "value" and "how" ------

def _held_out(plugin, images, labels, p: Plan) -> dict:
    figures = plugin.evaluate()
    if not figures:
        return {"value": None, "how": f"{type(plugin).__name__}.evaluate() reports nothing"}
    key, value = next(iter(figures.items()))
    doc = (type(plugin).evaluate.__doc__ or "").strip().splitlines()[0]
    return {"value": value, "name": key, "how": doc, "all": figures}


def _load_evaluator(plugin, p: Plan):
    from zoo.models import load_model
    from zoo.registry import Registry

    if not p.evaluator:
        raise ZooError(f"{p.name}: a digit metric needs an evaluator")
    _, evaluator, _ = load_model(Path(p.evaluator["file"]), Registry.discover(), expected_plugin=EVALUATOR)
    return evaluator.to(plugin.device)


def evaluator_input(evaluator, images: torch.Tensor) -> torch.Tensor:
    """Generated images at the evaluator's input size, on its device."""
    size = evaluator.config.data.image_size
    if images.shape[-1] != size:
        images = torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return images.to(evaluator.device)


def _digit_accuracy(plugin, images, labels, p: Plan) -> dict:
    evaluator = _load_evaluator(plugin, p)
    with torch.no_grad():
        read = torch.cat([evaluator.predict(evaluator_input(evaluator, chunk)) for chunk in images.split(500)])
    accuracy = (read == labels).float().mean().item()
    return {"value": accuracy, "name": "accuracy",
            "how": f"share of {len(labels)} samples ({len(labels) // plugin.num_classes} per class, seed 0, default sampler) "
                   f"that the evaluator reads as the requested digit; evaluator: {p.evaluator['real_accuracy']:.1%} on {p.evaluator['data']}"}


def _digit_fd(plugin, images, labels, p: Plan) -> dict:
    from zoo.data.digits import labelled_digits
    from zoo.metrics.accuracy import features
    from zoo.metrics.fid import feature_frechet_distance

    evaluator = _load_evaluator(plugin, p)
    real = labelled_digits(p.data, "val", evaluator.config.data.image_size)
    with torch.no_grad():
        fake_features = torch.cat([evaluator.embed(evaluator_input(evaluator, c)) for c in images.split(500)]).double().numpy()
    real_features = features(evaluator, real.images, batch_size=500).double().numpy()
    distance = feature_frechet_distance(real_features, fake_features)
    return {"value": distance, "name": "digit FD",
            "how": f"Frechet distance between {len(images)} samples and {len(real)} real val digits in the evaluator's "
                   f"{real_features.shape[1]}-d features (lower is better; FID with a digit classifier instead of Inception); "
                   f"evaluator: {p.evaluator['real_accuracy']:.1%} on {p.evaluator['data']}"}


@functools.cache  # face rate and FID both read the folder: written once (a tensor hashes by identity)
def _saved(images: torch.Tensor, folder: Path) -> Path:
    from zoo.viz import hw2_names, save_images

    save_images(images, folder, hw2_names(len(images)))
    return folder


def _face_rate(plugin, images, labels, p: Plan) -> dict:
    from zoo.metrics.faces import face_rate

    try:
        result = face_rate(_saved(images, Path(p.run_dir) / "benchmark_samples"), progress=False)
    except ZooError as exc:
        return {"value": None, "name": "face rate", "how": f"not measured: {exc}"}
    return {"value": result["face_rate"], "name": "face rate",
            "how": f"share of {result['count']} samples in which dlib's HOG detector finds exactly one face"}


def _fid(plugin, images, labels, p: Plan) -> dict:
    from zoo.metrics.fid import fid

    try:
        result = fid(p.data, _saved(images, Path(p.run_dir) / "benchmark_samples"), device=str(plugin.device))
    except ZooError as exc:
        return {"value": None, "name": "FID", "how": f"not measured: {exc}"}
    return {"value": result["fid"], "name": "FID",
            "how": f"{result['fake_count']} samples against the {result['real_count']} training images; {result['backend']}"}


METRICS = {"held_out": _held_out, "digit_accuracy": _digit_accuracy, "digit_fd": _digit_fd, "face_rate": _face_rate, "fid": _fid}


# --- the report -----------------------------------------------------------------------------------

def _quality_cell(quality: dict) -> str:
    cells = []
    for q in quality.values():
        value = q["value"]
        shown = "not measured" if value is None else (f"{value:.1%}" if q.get("name") in ("accuracy", "face rate") or "acc" in q.get("name", "") else f"{value:.2f}")
        cells.append(f"{q.get('name', '?')} {shown}")
    return "; ".join(cells)


def _summary(row: dict) -> str:
    return (f"train {row['train_images_per_s']} img/s, sample {row['sample_images_per_s']} img/s, "
            f"engine/plain {row['engine_vs_plain']}, peak {row['peak_rss_mib']} MiB, {_quality_cell(row['quality'])} ({row['wall_s']}s)")


def _short(data: str) -> str:
    """face/train, digits/mnistm, ...: enough of a data path to tell the rows apart."""
    return data if data == "embedded digits" else "/".join(Path(data).parts[-2:])


def markdown(report: dict) -> str:
    lines = [
        f"# zoo benchmark{' --quick' if report['quick'] else ''}: {report['date']}, {report['device']}", "",
        f"Data: {report['data_root'] or 'the embedded digits (no --data-root)'}. torch {report['torch']}, "
        f"{report['torch_threads']} threads. Whole run: {report['wall_s'] / 60:.1f} min.", "",
        "| plugin | family | data | steps | train img/s | engine / plain | outputs/s | net evals per output | peak RSS | quality | wall |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["plugins"]:
        if r["status"] != "ok":
            note = r["status"] + (f": {r['error']}" if r.get("error") else "")
            lines.append(f"| {r['plugin']} | {r.get('family', '?')} | {note} | | | | | | | | |")
            continue
        memory = f"{r['peak_rss_mib']} MiB" + (f" (CUDA {r['cuda_peak_mib']} MiB)" if r.get("cuda_peak_mib") else "")
        lines.append(
            f"| {r['plugin']} | {r['family']} | {_short(r['data'])} | {r['steps']} "
            f"| {r['train_images_per_s']} | {r['engine_vs_plain']} | {r['sample_images_per_s']} | {r['network_evals_per_image']} "
            f"| {memory} | {_quality_cell(r['quality'])} | {r['wall_s']:.0f} s |"
        )
    lines += [
        "", "How each figure is measured:", "",
        "- train img/s: the engine's own log (metrics.jsonl), median over windows after the first; batch x steps/s.",
        "- engine / plain: plain-PyTorch step time over the engine's, for the plugin's own training_step with its "
        "optimizers, LR schedulers and EMA (1.0 = no overhead; above 1 means the engine was faster).",
        "- outputs/s: `generate`, `sample` (the plugin's default sampler) or `predict`; net evals per output count "
        "rows through the plugin's first network (classifier-free guidance counts twice).",
        "- peak RSS: each plugin runs in its own process; resident set at its peak (training, plain loop, sampling, metric).",
        "",
    ]
    measured: dict[tuple[str, str], list[str]] = {}  # one line per way of measuring, with the plugins it applies to
    for r in report["plugins"]:
        for q in (r.get("quality") or {}).values():
            measured.setdefault((q.get("name", "?"), q["how"]), []).append(r["plugin"])
    lines += [f"- {name} ({', '.join(plugins)}): {how}" for (name, how), plugins in measured.items()]
    if report["quick"]:
        lines += ["", "Quick runs train a few dozen steps: quality figures only show that each metric runs, and the "
                  "engine / plain ratios come from a few short windows (about +-20%)."]
    return "\n".join(lines) + "\n"


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
