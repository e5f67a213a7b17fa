"""`zoo benchmark ddpm_unet`: digit accuracy of generated MNIST-M digits against the sampler and its steps.

Trains (or reuses) the evaluator (digit_classifier) and ddpm_unet on one HW2-layout digit folder, then
for each sampler setting draws 100 images per digit with seed 0, times them, and scores them with the
evaluator. The evaluator's own accuracy on the folder's real val.csv is reported beside them.
DDPM takes all 1000 steps, so on a CPU it is measured on fewer images (the table says how many) and
its time for 1000 images is extrapolated from them, and marked so.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from zoo.bench.common import device_name, environment, stamp, trained_model, write_report
from zoo.errors import ZooError
from zoo.metrics.digits import EVALUATOR_STEPS, DigitScorer, trained_evaluator

# (scheduler, steps, guidance or None for the plugin's default)
# The last two rows vary the guidance weight (the default is 2): 1 is plain conditional, 4 stronger.
SETTINGS = (("ddpm", 1000, None), ("ddim", 50, None), ("dpm", 25, None), ("dpm", 10, None), ("dpm", 25, 1.0), ("dpm", 25, 4.0))
PER_CLASS = 100
DDPM_PER_CLASS_ON_CPU = 2
QUICK = {"ddpm_steps": 300, "classifier_steps": EVALUATOR_STEPS["quick"], "per_class": 10}
DDPM_OVERRIDES: tuple[str, ...] = ()  # extra config for the benchmarked model (the tests shrink it)


def run(data_root: str | None, out_dir: Path, quick: bool = False, steps: int | None = None) -> list[Path]:
    from zoo.viz import class_names, save_class_grid, save_images, save_strip

    if not data_root:
        raise ZooError("zoo benchmark ddpm_unet needs --data-root: one digit folder in the HW2 layout "
                       "(data/ + train.csv + val.csv), e.g. hw2_data/digits/mnistm")
    root = Path(data_root).expanduser().resolve()
    device, name = device_name(), stamp("ddpm_unet", quick)
    runs = Path("runs/benchmark") / name
    started = time.perf_counter()

    # zoo benchmark's evaluator, cached beside this study's runs and shared with the other benchmarks.
    evaluator, evaluator_info = trained_evaluator(str(root), QUICK["classifier_steps"] if quick else EVALUATOR_STEPS["full"], runs.parent)
    scorer = DigitScorer(evaluator)
    print(f"evaluator: {evaluator_info['real_accuracy']:.2%} on {evaluator_info['data']}", flush=True)

    ddpm_steps = steps or (QUICK["ddpm_steps"] if quick else 3000)
    sampler, sampler_wall = trained_model("ddpm_unet", runs / "ddpm",
                                          [f"data.root={root}", f"train.steps={ddpm_steps}", "train.sample_every=1000", *DDPM_OVERRIDES])
    per_class = QUICK["per_class"] if quick else PER_CLASS
    rows, pictures = [], []
    for kind, sample_steps, guidance in SETTINGS:
        kind, sample_steps, guidance = sampler.sampling_defaults(kind, sample_steps, guidance)
        count = min(DDPM_PER_CLASS_ON_CPU, per_class) if (kind == "ddpm" and device == "cpu") else per_class
        labels = torch.arange(sampler.num_classes).repeat_interleave(count)
        tick = time.perf_counter()
        images = sampler.sample(labels, seed=0, scheduler=kind, steps=sample_steps, guidance=guidance, progress=True)
        seconds = time.perf_counter() - tick
        folder = runs / f"samples-{kind}-{sample_steps}-g{guidance:g}"
        save_images(images, folder, class_names(sampler.num_classes, count))
        score = scorer.folder_accuracy(folder)
        evaluations = sample_steps * (2 if guidance not in (0.0, 1.0) else 1)
        rows.append({
            "scheduler": kind, "steps": sample_steps, "guidance": guidance, "images": len(labels),
            "accuracy": round(score["accuracy"], 4), "per_digit": {d: round(a, 3) for d, a in score["per_digit"].items()},
            "wall_s": round(seconds, 1), "wall_s_per_1000": round(seconds * 1000 / len(labels), 1),
            "extrapolated": len(labels) != 1000, "network_evaluations_per_image": evaluations,
            "images_per_s": round(len(labels) / seconds, 2),
        })
        print(f"{kind} {sample_steps} steps, guidance {guidance:g}: {score['accuracy']:.2%} of {len(labels)} images "
              f"in {seconds:.0f}s", flush=True)
        # Rows = digits, columns = the first (up to) 10 noises: the samplers side by side, as pictures.
        pictures.append(save_class_grid(images, sampler.num_classes, out_dir / f"{name}-grid-{folder.name.removeprefix('samples-')}.png"))
        if kind == "ddpm":
            frames, captions = sampler.trajectory(0, 0, kind, sample_steps, guidance)
            pictures.append(save_strip(frames, captions, out_dir / f"{name}-trajectory-ddpm.png"))

    report = {
        "benchmark": "ddpm_unet", **environment(), "data_root": str(root), "seed": 0,
        "ddpm_train_steps": ddpm_steps, "ddpm_batch_size": sampler.config.train.batch_size,
        "ddpm_train_wall_s": sampler_wall and round(sampler_wall, 1),
        "ddpm_parameters": sum(p.numel() for p in sampler.modules["unet"].parameters()),
        "model_channels": list(sampler.config.model.channels), "ema_decay": sampler.config.train.ema_decay,
        "evaluator_real_accuracy": round(evaluator_info["real_accuracy"], 4), "evaluator_real_data": evaluator_info["data"],
        "evaluator_steps": evaluator_info["steps"], "evaluator_train_wall_s": evaluator_info["train_wall_s"],
        "rows": rows, "wall_s": round(time.perf_counter() - started, 1),
    }
    return [*write_report(out_dir, name, report, _markdown(report)), *pictures]


def _markdown(r: dict) -> str:
    lines = ["| sampler | steps | guidance | net evals / image | images | accuracy | wall time | time for 1000 images |",
             "|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        per_1000 = f"{row['wall_s_per_1000'] / 60:.1f} min" + (" (extrapolated)" if row["extrapolated"] else "")
        lines.append(f"| {row['scheduler']} | {row['steps']} | {row['guidance']:g} | {row['network_evaluations_per_image']} "
                     f"| {row['images']} | {row['accuracy']:.1%} | {row['wall_s']:.0f} s | {per_1000} |")
    train = f"{r['ddpm_train_wall_s'] / 60:.0f} min" if r["ddpm_train_wall_s"] else "time not recorded"
    return (
        f"# ddpm_unet: digit accuracy against sampling steps ({r['device']})\n\n" + "\n".join(lines) + "\n\n"
        f"- Samples: seed 0, an equal number per digit, EMA weights (decay {r['ema_decay']}), scored by the zoo's "
        f"evaluator (`digit_classifier`), which reads **{r['evaluator_real_accuracy']:.1%}** of real held-out digits "
        f"correctly ({r['evaluator_real_data']}).\n"
        f"- Model: ddpm_unet, widths {r['model_channels']}, {r['ddpm_parameters']:,} parameters, trained "
        f"{r['ddpm_train_steps']} steps at batch {r['ddpm_batch_size']} on `{r['data_root']}` ({train}).\n"
        f"- Device: {r['device']}. Whole benchmark: {r['wall_s'] / 60:.1f} min "
        "(reused training runs not counted).\n"
        "- Guidance is classifier-free: eps_u + w (eps_c - eps_u); w = 1 is the plain conditional model (one network "
        "evaluation per step), other weights need two.\n"
    )
