"""`zoo benchmark ddpm_unet --study`: how soon ddpm_unet draws digits that classifiers read as the digit
asked for, with and without Min-SNR-gamma, and how few sampling steps the result needs.

1. Two evaluators, trained on the folder's train split and checked on its val split: the zoo's own
   (digit_classifier's small CNN) and an independent second opinion with another architecture (a timm
   ResNet). Every generated-digit figure is given by both.
2. Training curves: ddpm_unet trained in ARMS that differ only in diffusion.snr_gamma. Every
   EVAL_EVERY steps a checkpoint is kept; each is sampled (CURVE_PER_CLASS per digit, DPM-Solver 10
   steps, the default guidance, seed 0) and scored, giving the steps and training minutes to 95% and
   98% (the lower of the two evaluators' accuracies, so both agree).
3. Sampling steps: the better arm's final model with DPM-Solver in 1 to 25 steps, other guidance
   weights and the full 1000-step DDPM, PER_CLASS per digit (DDPM on fewer images on a CPU, its time
   per 1000 images extrapolated and marked so).

Training runs live in runs/benchmark/ddpm_unet-DATE-DEVICE/ and are reused when finished, resumed when
interrupted. The minutes are each run's own wall clock (metrics.jsonl's elapsed_s), on the thread count
its status.json records.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from zoo.bench.common import device_name, environment, stamp, trained_model, write_report
from zoo.bench.evaluator import EVALUATOR_STEPS, trained_evaluator
from zoo.diffusion import network_evaluations_per_step
from zoo.errors import ZooError
from zoo.metrics.digits import DigitScorer
from zoo.registry import Registry
from zoo.runs.folders import read_status
from zoo.sharing.exports import export_run, load_model
from zoo.training import checkpoints
from zoo.training.run_log import read_metrics
from zoo.viz import class_names, save_class_grid, save_images, save_strip

ARMS = (("eps", ()), ("min-snr-5", ("diffusion.snr_gamma=5",)))  # (name, config overrides)
# The independent evaluator: a timm ResNet (model.backbone) and its training steps in a full study
# (a ResNet step costs about 10 CNN steps on a CPU; resnet18 would cost twice resnet10t again).
SECOND_EVALUATOR, SECOND_EVALUATOR_STEPS = "resnet10t", 800
THRESHOLDS = (0.95, 0.98)
TRAIN_STEPS, EVAL_EVERY, CURVE_PER_CLASS = (
    5000,
    500,
    20,
)  # 5000 steps: 21 minutes per arm on 2 CPU cores (up to 60 on a busy day)
CURVE_SCHEDULER, CURVE_STEPS = "dpm", 10  # how each checkpoint is sampled for the training curves
# (scheduler, steps, guidance or None for the plugin's default 2)
SETTINGS = (
    ("dpm", 1, None),
    ("dpm", 2, None),
    ("dpm", 4, None),
    ("dpm", 10, None),
    ("dpm", 25, None),
    ("dpm", 10, 1.0),
    ("dpm", 10, 4.0),
    ("ddpm", 1000, None),
)
PER_CLASS = 100
DDPM_PER_CLASS_ON_CPU = 2
QUICK = {
    "train_steps": 300,
    "eval_every": 150,
    "classifier_steps": EVALUATOR_STEPS["quick"],
    "per_class": 10,
    "curve_per_class": 5,
}
DDPM_OVERRIDES: tuple[str, ...] = ()  # extra config for every arm (the tests shrink the model)
DISAGREEMENT = 0.02  # evaluators further apart than this get a note


def run(data_root: str | None, out_dir: Path, quick: bool = False, steps: int | None = None) -> list[Path]:
    if not data_root:
        raise ZooError(
            "zoo benchmark ddpm_unet needs --data-root: one digit folder in the HW2 layout "
            "(data/ + train.csv + val.csv), e.g. hw2_data/digits/mnistm"
        )
    root = Path(data_root).expanduser().resolve()
    name = stamp("ddpm_unet", quick)
    runs = Path("runs/benchmark") / name
    started = time.perf_counter()

    # The evaluators are cached beside the study's runs and shared with the other benchmarks.
    scorers, evaluators = {}, []
    for backbone, full_steps in ((None, EVALUATOR_STEPS["full"]), (SECOND_EVALUATOR, SECOND_EVALUATOR_STEPS)):
        evaluator, info = trained_evaluator(
            str(root), QUICK["classifier_steps"] if quick else full_steps, runs.parent, backbone
        )
        scorers[info["backbone"]] = DigitScorer(evaluator)
        evaluators.append(info)
        print(f"evaluator {info['backbone']}: {info['real_accuracy']:.2%} on {info['data']}", flush=True)

    train_steps = steps or (QUICK["train_steps"] if quick else TRAIN_STEPS)
    eval_every = min(train_steps, QUICK["eval_every"] if quick else EVAL_EVERY)
    curve_per_class = QUICK["curve_per_class"] if quick else CURVE_PER_CLASS
    arms, samplers = {}, {}
    for arm, overrides in ARMS:
        arm_dir = runs / arm
        config = [
            f"data.root={root}",
            f"train.steps={train_steps}",
            f"train.checkpoint_every={eval_every}",
            "train.keep_checkpoints=0",
            f"train.sample_every={eval_every}",
            f"train.log_every={min(50, eval_every)}",
            *DDPM_OVERRIDES,
            *overrides,
        ]
        samplers[arm], wall = trained_model("ddpm_unet", arm_dir, config)
        curve = training_curve(arm_dir, scorers, curve_per_class)
        arms[arm] = {
            "overrides": list(overrides),
            "train_steps": train_steps,
            "train_wall_s": wall and round(wall, 1),
            "threads": read_status(arm_dir).get("threads"),
            "curve": curve,
            "reached": {f"{t:.0%}": first_reaching(curve, t) for t in THRESHOLDS},
        }

    best = max(arms, key=lambda a: (min(arms[a]["curve"][-1]["accuracy"].values()), a == ARMS[0][0]))
    per_class = QUICK["per_class"] if quick else PER_CLASS
    rows, pictures = sampling_rows(samplers[best], scorers, per_class, runs / best, out_dir, name)
    sampler = samplers[best]
    report = {
        "benchmark": "ddpm_unet",
        **environment(),
        "data_root": str(root),
        "seed": 0,
        "evaluators": evaluators,
        "arms": arms,
        "best_arm": best,
        "curve_sampler": {
            "scheduler": CURVE_SCHEDULER,
            "steps": CURVE_STEPS,
            "guidance": sampler.config.sample.guidance,
            "per_class": curve_per_class,
        },
        "batch_size": sampler.config.train.batch_size,
        "model_channels": list(sampler.config.model.channels),
        "ddpm_parameters": sum(p.numel() for p in sampler.modules["unet"].parameters()),
        "ema_decay": sampler.config.train.ema_decay,
        "rows": rows,
        "wall_s": round(time.perf_counter() - started, 1),
    }
    return [*write_report(out_dir, name, report, _markdown(report)), *pictures]


def training_curve(run_dir: Path, scorers: dict[str, DigitScorer], per_class: int) -> list[dict]:
    """[{step, minutes, accuracy: {evaluator: share}}] for each kept checkpoint of a finished run, from
    samples of its EMA weights (CURVE_SCHEDULER in CURVE_STEPS steps, the run's guidance, seed 0)."""

    registry, minutes = (
        Registry.discover(),
        {row["step"]: row["elapsed_s"] / 60 for row in read_metrics(run_dir) if "elapsed_s" in row and "step" in row},
    )
    curve = []
    for checkpoint in checkpoints.all_checkpoints(run_dir):
        step = checkpoints.step_of(checkpoint)
        weights = run_dir / "curve" / f"step_{step:06d}.safetensors"
        if not weights.is_file():
            export_run(run_dir, weights, registry, step=step)
        _, sampler, _ = load_model(weights, registry, expected_plugin="ddpm_unet")
        sampler.to(device_name())
        labels = torch.arange(sampler.num_classes).repeat_interleave(per_class)
        images = sampler.sample(labels, seed=0, scheduler=CURVE_SCHEDULER, steps=CURVE_STEPS)
        accuracy = {name: round(scorer.accuracy(images, labels)["accuracy"], 4) for name, scorer in scorers.items()}
        curve.append(
            {"step": step, "minutes": round(minutes[step], 1) if step in minutes else None, "accuracy": accuracy}
        )
        print(f"{run_dir.name} step {step}: " + ", ".join(f"{k} {v:.1%}" for k, v in accuracy.items()), flush=True)
    return curve


def first_reaching(curve: list[dict], threshold: float) -> dict | None:
    """{step, minutes} of the first checkpoint that every evaluator scores at `threshold` or more."""
    for point in curve:
        if min(point["accuracy"].values()) >= threshold:
            return {"step": point["step"], "minutes": point["minutes"]}
    return None


def sampling_rows(
    sampler, scorers: dict[str, DigitScorer], per_class: int, run_dir: Path, out_dir: Path, name: str
) -> tuple[list[dict], list[Path]]:
    """One row per SETTINGS entry: both evaluators' accuracy, timing, and a grid of the samples."""

    rows, pictures, on_cpu = [], [], device_name() == "cpu"
    for kind, sample_steps, guidance in SETTINGS:
        kind, sample_steps, guidance = sampler.sampling_defaults(kind, sample_steps, guidance)
        count = min(DDPM_PER_CLASS_ON_CPU, per_class) if (kind == "ddpm" and on_cpu) else per_class
        labels = torch.arange(sampler.num_classes).repeat_interleave(count)
        tick = time.perf_counter()
        images = sampler.sample(labels, seed=0, scheduler=kind, steps=sample_steps, guidance=guidance, progress=True)
        seconds = time.perf_counter() - tick
        folder = run_dir / f"samples-{kind}-{sample_steps}-g{guidance:g}"
        save_images(images, folder, class_names(sampler.num_classes, count))
        scores = {evaluator: scorer.accuracy(images, labels) for evaluator, scorer in scorers.items()}
        rows.append(
            {
                "scheduler": kind,
                "steps": sample_steps,
                "guidance": guidance,
                "images": len(labels),
                "accuracy": {evaluator: round(s["accuracy"], 4) for evaluator, s in scores.items()},
                "per_digit": {
                    evaluator: {d: round(a, 3) for d, a in s["per_digit"].items()} for evaluator, s in scores.items()
                },
                "wall_s": round(seconds, 1),
                "wall_s_per_1000": round(seconds * 1000 / len(labels), 1),
                "extrapolated": len(labels) != 1000,
                "network_evaluations_per_image": sample_steps * network_evaluations_per_step(guidance),
            }
        )
        print(
            f"{kind} {sample_steps} steps, guidance {guidance:g}, {len(labels)} images in {seconds:.0f}s: "
            + ", ".join(f"{k} {s['accuracy']:.2%}" for k, s in scores.items()),
            flush=True,
        )
        # Rows = digits, columns = the first (up to) 10 noises: the samplers side by side, as pictures.
        pictures.append(
            save_class_grid(
                images, sampler.num_classes, out_dir / f"{name}-grid-{folder.name.removeprefix('samples-')}.png"
            )
        )
        if kind == "ddpm":
            frames, captions = sampler.trajectory(0, 0, kind, sample_steps, guidance)
            pictures.append(save_strip(frames, captions, out_dir / f"{name}-trajectory-ddpm.png"))
    return rows, pictures


def _reached(point: dict | None, steps: int) -> str:
    if point is None:
        return f"not by step {steps}"
    return f"step {point['step']}" + (f" ({point['minutes']:.0f} min)" if point["minutes"] is not None else "")


def _markdown(r: dict) -> str:
    names = [e["backbone"] for e in r["evaluators"]]
    arms = list(r["arms"])
    curve_head = (
        "| step | " + " | ".join(f"{a}: minutes | " + " | ".join(f"{a}: {n}" for n in names) for a in arms) + " |"
    )
    curves = [curve_head, "|---" * (1 + len(arms) * (1 + len(names))) + "|"]
    by_step = {a: {p["step"]: p for p in r["arms"][a]["curve"]} for a in arms}
    for step in sorted({s for a in arms for s in by_step[a]}):
        cells = []
        for a in arms:
            point = by_step[a].get(step)
            minutes = "" if point is None or point["minutes"] is None else f"{point['minutes']:.0f}"
            cells += [minutes, *("" if point is None else f"{point['accuracy'][n]:.1%}" for n in names)]
        curves.append(f"| {step} | " + " | ".join(cells) + " |")
    reach = [
        "| arm | config | "
        + " | ".join(f"{t:.0%} on both evaluators" for t in THRESHOLDS)
        + " | threads | training wall time |",
        "|---" * (4 + len(THRESHOLDS)) + "|",
    ]
    for a, arm in r["arms"].items():
        wall = f"{arm['train_wall_s'] / 60:.0f} min" if arm["train_wall_s"] else "not recorded"
        reach.append(
            f"| {a} | {', '.join(arm['overrides']) or 'defaults'} | "
            + " | ".join(_reached(arm["reached"][f"{t:.0%}"], arm["train_steps"]) for t in THRESHOLDS)
            + f" | {arm['threads'] or '?'} | {wall} |"
        )
    table = [
        "| sampler | steps | guidance | net evals / image | images | "
        + " | ".join(names)
        + " | time for 1000 images |",
        "|---" * (6 + len(names)) + "|",
    ]
    notes = []
    for row in r["rows"]:
        per_1000 = f"{row['wall_s_per_1000'] / 60:.1f} min" + (" (extrapolated)" if row["extrapolated"] else "")
        table.append(
            f"| {row['scheduler']} | {row['steps']} | {row['guidance']:g} | {row['network_evaluations_per_image']} "
            f"| {row['images']} | " + " | ".join(f"{row['accuracy'][n]:.1%}" for n in names) + f" | {per_1000} |"
        )
        spread = max(row["accuracy"].values()) - min(row["accuracy"].values())
        if spread > DISAGREEMENT:
            notes.append(
                f"{row['scheduler']} {row['steps']} steps, guidance {row['guidance']:g}: the evaluators differ by "
                f"{spread * 100:.1f} points; their per-digit accuracies in the JSON show where."
            )
    evaluators = "; ".join(
        f"{e['backbone']}: {e['real_accuracy']:.1%} of {e['data']}, {e['steps']} steps" for e in r["evaluators"]
    )
    c = r["curve_sampler"]
    return (
        f"# ddpm_unet: how soon it draws readable digits, and with how few sampling steps ({r['date']}, "
        f"{r['device']})\n\n"
        f"## Training: accuracy of samples at each checkpoint\n\n"
        + "\n".join(curves)
        + "\n\n"
        + "\n".join(reach)
        + "\n\n"
        f"Each checkpoint's EMA weights draw {c['per_class']} digits per class (DPM-Solver {c['steps']} steps, "
        "guidance "
        f"{c['guidance']:g}, seed 0); minutes are the run's training wall clock at that step.\n\n"
        f"## Sampling: the {r['best_arm']} arm's final model\n\n"
        + "\n".join(table)
        + "\n\n"
        + "".join(f"- {n}\n" for n in notes)
        + f"- Evaluators (share of real held-out digits read correctly): {evaluators}.\n"
        f"- Model: ddpm_unet, widths {r['model_channels']}, {r['ddpm_parameters']:,} parameters, batch "
        f"{r['batch_size']}, "
        f"EMA decay {r['ema_decay']}, data `{r['data_root']}`.\n"
        f"- Device: {r['device']}. Whole benchmark: {r['wall_s'] / 60:.1f} min (reused training runs not counted).\n"
        "- Guidance is classifier-free: eps_u + w (eps_c - eps_u); w = 1 is the plain conditional model (one network "
        "evaluation per step), other weights need two.\n"
    )
