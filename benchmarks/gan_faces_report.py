"""The report of benchmarks/gan_faces.py: its JSON, its markdown table with what each column measures,
the curves of face rate, FID and KID against training minutes, and each model's first-32 grid."""

from __future__ import annotations

import json
from pathlib import Path


def quality_cells(row: dict) -> str:
    """The face rate, FID, KID, precision, recall, density and coverage cells of a table row."""
    face = f"{row['face_rate']:.1%}" if row.get("face_rate") is not None else "not measured"
    fid = f"{row['fid']:.1f}" if row.get("fid") is not None else "not measured"
    kid = f"{row['kid'] * 1000:.1f} ± {row['kid_std'] * 1000:.1f}" if row.get("kid") is not None else "not measured"
    # Points scored before precision and recall were measured have no such keys.
    manifold = [
        f"{row[key]:.2f}" if row.get(key) is not None else "–" for key in ("precision", "recall", "density", "coverage")
    ]
    return " | ".join([face, fid, kid, *manifold])


def _reference_line(report: dict) -> str:
    ref = report["speed_reference"]
    ceiling = f"ceiling {ref['ceiling']['flop_per_s'] / 1e9:.0f} GFLOP/s ({ref['ceiling']['probe']})"
    if "images_per_s" not in ref:
        return f"not measured in this call; {ceiling}"
    return (
        f"this call: {ref['recipe']} at {ref['images_per_s']:g} images/s over {ref['steps']} steps, "
        f"x{ref['scale']:g} of {ref['scale_of_images_per_s']:g}; {ceiling}"
    )


def write_results(report: dict, out: Path, stamp: str, work: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path, png_path = (out / f"{stamp}.{ext}" for ext in ("json", "md", "png"))
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    lines = [
        "| model | recipe | minutes | scaled minutes | steps | face rate | FID | KID x 1000 (± std) | precision "
        "| recall | density | coverage | train img/s | MFLOP per image | MFU | data share | scoring |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    real = report.get("real_reference")
    if real:
        lines.append(
            f"| *{real['count']} real `train` images* | | | | | {quality_cells(real)} | | | | | "
            f"{real['score_wall_s']:.0f} s |"
        )
    for name, model in report["models"].items():
        for p in model["points"]:
            speed = f"{p['images_per_s']:.0f}" if "images_per_s" in p else "?"
            share = f"{p['data_share']:.1%}" if "data_share" in p else "?"
            scaled = f"{p['scaled_minutes']:g}" if "scaled_minutes" in p else "?"
            mflop = f"{p['flop_per_image'] / 1e6:.0f}" if "flop_per_image" in p else "?"
            mfu = f"{p['mfu']:.0%}" if "mfu" in p else "?"
            lines.append(
                f"| {name} | {model['recipe']} | {p['minutes']:g} | {scaled} | {p['step']} | {quality_cells(p)} "
                f"| {speed} | {mflop} | {mfu} | {share} | {p['score_wall_s']:.0f} s |"
            )
    grids = "\n".join(f"![{name}]({stamp}-{name}-first32.png)" for name in report["models"])
    overrides = report.get("overrides") or []
    recipe = "its recipe" + (" and the overrides " + ", ".join(f"`{o}`" for o in overrides) if overrides else "")
    md_path.write_text(
        f"# GANs on HW2 faces: time to quality ({report['date']}, {report['device']})\n\n" + "\n".join(lines) + "\n\n"
        f"Each model trains on `{report['data_root']}/train` ({report['train_images']} images) with {recipe}, in "
        f"segments of {report['score_every']:g} minutes; after each, training stops and the EMA generator draws "
        f"{report['samples']} images with seed 0. **minutes**: wall minutes of training (`train.time_limit_min`, "
        "summed over "
        "segments; the `zoo run` processes' wall clock, start-up included, is `train_wall_s` in the JSON); "
        "**scoring** "
        f"(export, sampling, metrics) is not in it. **face rate**: dlib HOG detector, exactly one "
        f"face (real `val` faces: 94.6%). **FID** and **KID** against the {report['real_count']} `val` images: "
        "pytorch-fid's "
        f"InceptionV3 and TF-ported weights, {report['fid_dims']}-d features; KID is the unbiased MMD² (cubic "
        "kernel), mean "
        "± std over 100 subsets. **precision** (realism) and **recall** (variety), Kynkäänniemi et al. 2019, and "
        "**density** and **coverage**, Naeem et al. 2020, on the same features with k = 5 nearest neighbours (1 "
        "for a set against itself; – where a point was scored before they were measured). **scaled minutes**: the "
        "minutes at the speed of 2026-11-23, by the speed reference measured at the start of each call "
        f"({_reference_line(report)}). **MFU**: one training step's FLOPs (FlopCounterMode) per image x train "
        "img/s, over the ceiling of that reference. The *real* row scores real training images the same way: the "
        "floor of each metric at this sample count. **data share**: median share of the training wall time spent "
        "waiting for a batch.\n\n"
        f"![quality against minutes]({png_path.name})\n\nFirst 32 samples at each model's last point:\n\n{grids}\n"
    )
    plot_curves(report, png_path)
    paths = [json_path, md_path, png_path]
    for name in report["models"]:
        grid = work / f"{name}-first32.png"
        if grid.is_file():
            target = out / f"{stamp}-{name}-first32.png"
            target.write_bytes(grid.read_bytes())
            paths.append(target)
    return paths


def plot_curves(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (
        ("face_rate", "face rate (exactly one face)", 100.0),
        ("fid", "FID (lower is better)", 1.0),
        ("kid", "KID x 1000 (lower is better)", 1000.0),
    )
    figure, axes = plt.subplots(1, 3, figsize=(14, 4))
    for axis, (key, title, scale) in zip(axes, panels):
        for name, model in report["models"].items():
            points = [p for p in model["points"] if p.get(key) is not None]
            if points:
                axis.plot(
                    [p["minutes"] for p in points],
                    [p[key] * scale for p in points],
                    marker="o",
                    label=f"{name} ({model['recipe']})",
                )
        real = report.get("real_reference")
        if real and real.get(key) is not None:
            axis.axhline(
                real[key] * scale, color="grey", linestyle="--", linewidth=1, label=f"{real['count']} real train images"
            )
        if key == "face_rate":
            axis.axhline(90.0, color="grey", linestyle=":", linewidth=1, label="HW2 strong baseline (90%)")
        axis.set_title(title)
        axis.set_xlabel(f"training minutes ({report['device']})")
        axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
