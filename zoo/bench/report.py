"""The markdown table of a `zoo benchmark` report, and the one-line summary of each plugin's row."""

from __future__ import annotations

from pathlib import Path


def _quality_cell(quality: dict) -> str:
    cells = []
    for q in quality.values():
        value = q["value"]
        shown = (
            "not measured"
            if value is None
            else (
                f"{value:.1%}"
                if q.get("name") in ("accuracy", "face rate") or "acc" in q.get("name", "")
                else f"{value:.2f}"
            )
        )
        cells.append(f"{q.get('name', '?')} {shown}")
    return "; ".join(cells)


def summary(row: dict) -> str:
    return (
        f"train {row['train_images_per_s']} img/s (MFU {_mfu(row)}), sample {row['sample_images_per_s']} img/s, "
        f"engine/plain {row['engine_vs_plain']}, peak {row['peak_rss_mib']} MiB, {_quality_cell(row['quality'])} "
        f"({row['wall_s']}s)"
    )


def _short(data: str) -> str:
    """face/train, digits/mnistm, ...: enough of a data path to tell the rows apart."""
    return data if data == "embedded digits" else "/".join(Path(data).parts[-2:])


def _mflop(row: dict) -> str:
    return f"{row['train_flop_per_image'] / 1e6:.0f}" if row.get("train_flop_per_image") is not None else "-"


def _mfu(row: dict) -> str:
    if row.get("mfu") is None:
        return "-"
    return f"{row['mfu']:.0%} of {row['ceiling']['flop_per_s'] / 1e9:.0f} GFLOP/s"


def markdown(report: dict) -> str:
    lines = [
        f"# zoo benchmark{' --quick' if report['quick'] else ''}: {report['date']}, {report['device']}",
        "",
        f"Data: {report['data_root'] or 'the embedded digits (no --data-root)'}. torch {report['torch']}, "
        f"{report['torch_threads']} threads. Whole run: {report['wall_s'] / 60:.1f} min.",
        "",
        "| plugin | family | data | steps | train img/s | MFLOP per image | MFU | engine / plain | outputs/s | net "
        "evals per output | peak RSS | quality | wall |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["plugins"]:
        if r["status"] != "ok":
            note = r["status"] + (f": {r['error']}" if r.get("error") else "")
            lines.append(f"| {r['plugin']} | {r.get('family', '?')} | {note} | | | | | | | | | | |")
            continue
        memory = f"{r['peak_rss_mib']} MiB" + (f" (CUDA {r['cuda_peak_mib']} MiB)" if r.get("cuda_peak_mib") else "")
        lines.append(
            f"| {r['plugin']} | {r['family']} | {_short(r['data'])} | {r['steps']} "
            f"| {r['train_images_per_s']} | {_mflop(r)} | {_mfu(r)} | {r['engine_vs_plain']} | "
            f"{r['sample_images_per_s']} | {r['network_evals_per_image']} "
            f"| {memory} | {_quality_cell(r['quality'])} | {r['wall_s']:.0f} s |"
        )
    lines += [
        "",
        "How each figure is measured:",
        "",
        "- train img/s: the engine's own log (metrics.jsonl), median over windows after the first; batch x steps/s.",
        "- engine / plain: plain-PyTorch step time over the engine's, for the plugin's own training_step with its "
        "optimizers, LR schedulers and EMA (1.0 = no overhead; above 1 means the engine was faster).",
        "- MFLOP per image: one training step's FLOPs (torch's FlopCounterMode: matmuls, convolutions, attention; "
        "every forward and backward pass, averaged over 5 steps) over its batch. MFU: those FLOPs per second of the "
        "plain loop's step time, over the best dense float32 probe (a large matmul, a large convolution) measured "
        "right "
        "after it in the same process, whose rate the cell gives (these rates move 2x between days on shared "
        "machines).",
        "- outputs/s: `generate`, `sample` (the plugin's default sampler) or `predict`; net evals per output count "
        "rows through the plugin's first network (classifier-free guidance counts twice).",
        "- peak RSS: each plugin runs in its own process; resident set at its peak (training, plain loop, sampling, "
        "metric).",
        "",
    ]
    measured: dict[tuple[str, str], list[str]] = {}  # one line per way of measuring, with the plugins it applies to
    for r in report["plugins"]:
        for q in (r.get("quality") or {}).values():
            measured.setdefault((q.get("name", "?"), q["how"]), []).append(r["plugin"])
    lines += [f"- {name} ({', '.join(plugins)}): {how}" for (name, how), plugins in measured.items()]
    if report["quick"]:
        lines += [
            "",
            "Quick runs train a few dozen steps: quality figures only show that each metric runs, and the "
            "engine / plain ratios come from a few short windows (about +-20%).",
        ]
    return "\n".join(lines) + "\n"
