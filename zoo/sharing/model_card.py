"""The model card `zoo export RUN --out FOLDER` writes as FOLDER/README.md, in the Hugging Face format:
a YAML header (library_name, tags, datasets, metrics, pipeline_tag where one fits), then what the
model is, how it was trained, the figures measured on it, how to sample from it, and its sample grid
(FOLDER/samples.png, the run's preview at or before the exported step).

Everything comes from the run folder: config.yaml, status.json (device, wall time), metrics.jsonl
(the scores the plugin's own evaluation logged), scores.json (what `zoo benchmark` measured on the
run) and samples/.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from zoo.config import Config
from zoo.files import write_text_atomic
from zoo.registry import PluginSpec
from zoo.runs import folders
from zoo.training import checkpoints
from zoo.training.run_log import LOOP_KEYS, read_metrics

CARD, GRID = "README.md", "samples.png"
PIPELINE_TAGS = {
    "generator": "unconditional-image-generation",
    "sampler": "unconditional-image-generation",
    "classifier": "image-classification",
    "adapter": "image-classification",
}


def _datasets(config: Config) -> list[str]:
    """Names of what the run trained on: the last two parts of each data path (e.g. digits/mnistm)."""
    paths = [v for k, v in config.data.to_dict().items() if isinstance(v, str) and k in ("root", "source", "target")]
    names = ["/".join(Path(p).parts[-2:]) for p in paths if p]
    return names or ["scikit-learn digits (embedded)"]


def _evaluation_scores(run_dir: Path) -> tuple[int | None, dict]:
    """(step, scores) of the last evaluation the plugin logged during training (rows without a speed)."""
    try:
        rows = [r for r in read_metrics(run_dir) if "images_per_s" not in r]
    except (OSError, ValueError):
        return None, {}
    for row in reversed(rows):
        scores = {k: v for k, v in row.items() if k not in LOOP_KEYS and v is not None}
        if scores:
            return row["step"], scores
    return None, {}


def _preview(run_dir: Path, step: int) -> tuple[int, Path] | None:
    """(step, path) of the newest preview grid (samples/step_000500.png) at or before `step`."""
    grids = sorted(
        (checkpoints.step_of(Path(g.stem)), g) for g in (run_dir / folders.SAMPLES).glob(f"{checkpoints.PREFIX}*.png")
    )
    at_or_before = [grid for grid in grids if grid[0] <= step]
    return at_or_before[-1] if at_or_before else None


def _figure(value) -> str:
    return "not measured" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def _minutes(seconds: float | None) -> str:
    return "not recorded" if seconds is None else f"{seconds / 60:.1f} min"


def write_card(folder: Path, run_dir: Path, spec: PluginSpec, config: Config, metadata: dict, parameters: int) -> Path:
    """Write FOLDER/README.md (and FOLDER/samples.png when the run has a preview); return the card's path."""
    run_dir, folder = Path(run_dir), Path(folder)
    step, labelled = int(metadata["step"]), "labels" in metadata
    conditional = labelled and spec.family in ("generator", "sampler")
    status = folders.read_status(run_dir)
    eval_step, eval_scores = _evaluation_scores(run_dir)
    try:
        benchmark = json.loads((run_dir / folders.SCORES).read_text())
    except (OSError, json.JSONDecodeError):
        benchmark = {}
    metrics = [*benchmark.get("quality", {}), *eval_scores]

    header = {
        "library_name": "zoo",
        "tags": ["zoo", spec.name, spec.family, *(["class-conditional"] if conditional else [])],
        "datasets": _datasets(config),
        "metrics": list(dict.fromkeys(metrics)),
    }
    if spec.family in PIPELINE_TAGS and not conditional:
        header["pipeline_tag"] = PIPELINE_TAGS[spec.family]  # no Hub task names class-conditional generation
    t = config.train
    lines = [
        "---",
        yaml.safe_dump(header, sort_keys=False).rstrip(),
        "---",
        "",
        f"# {spec.name} ({spec.family}), trained with zoo",
        "",
        spec.summary,
        "",
        "## The model",
        "",
        f"- Plugin `{spec.name}` {spec.version} ({spec.source}), zoo {metadata.get('zoo_version', '?')}; "
        f"{parameters:,} parameters in `model.safetensors`, the full config in `config.json`.",
        f"- Weights of step {step}"
        + (" (the exponential moving average)" if metadata.get("ema") == "true" else "")
        + ".",
        f"- Input/output: {metadata.get('image_size', '?')}x{metadata.get('image_size', '?')} RGB, "
        f"{metadata.get('normalisation', '')}" + (f"; labels {metadata['labels']}." if labelled else "."),
        "",
        "## Training",
        "",
        f"- Data: {', '.join(_datasets(config))}.",
        f"- Steps: {step} of {t.steps} planned, batch {t.batch_size} x {t.grad_accum} (grad accumulation) x "
        f"{status.get('processes', 1)} process(es), seed {t.seed}, mixed precision {t.mixed_precision}.",
        f"- Wall time: {_minutes(status.get('elapsed_s'))} of training on "
        f"{status.get('device', 'a device not recorded')}"
        + (f" ({status['threads']} threads)" if status.get("threads") and status.get("device") == "cpu" else "")
        + "; "
        f"the run ended as: {status.get('status', 'not recorded')}.",
        "",
        "## Figures",
        "",
    ]
    if benchmark.get("quality"):
        lines += [
            f"Measured by `zoo benchmark` ({benchmark.get('date', '?')}, {benchmark.get('device', '?')}):",
            "",
            "| metric | value | how |",
            "|---|---|---|",
        ]
        lines += [
            f"| {q.get('name', name)} | {_figure(q.get('value'))} | {q.get('how', '')} |"
            for name, q in benchmark["quality"].items()
        ]
        lines.append("")
    if eval_scores:
        what = (spec.plugin_class.evaluate.__doc__ or "").strip().splitlines()[:1]
        lines += [
            f"The plugin's own evaluation during training, at step {eval_step}: "
            + ", ".join(f"{k} {_figure(v)}" for k, v in eval_scores.items())
            + "."
            + (f" ({what[0]})" if what else ""),
            "",
        ]
    if not benchmark.get("quality") and not eval_scores:
        lines += [
            f"Nothing has scored these weights yet. `zoo benchmark {spec.name}` measures its quality metrics.",
            "",
        ]
    lines += ["## Use", "", f"Install zoo (and the `{spec.name}` plugin, {spec.source}), then:", "", "```bash"]
    if spec.family in ("generator", "sampler"):
        many = "--per-class 100" if conditional else "-n 1000"
        lines += [
            f"zoo sample --weights ./{folder.name} {many} --seed 0 --out samples/",
            f"zoo sample --weights ./{folder.name} --grid grid.png",
        ]
    else:
        lines += [f"zoo predict --weights ./{folder.name} --data IMAGE_FOLDER --out predictions.csv"]
    lines += [f"zoo inspect ./{folder.name}      # this card and the file's metadata", "```", ""]
    preview = _preview(run_dir, step)
    if preview is not None:
        preview_step, grid = preview
        shutil.copyfile(grid, folder / GRID)
        lines += [
            "## Samples",
            "",
            f"![samples]({GRID})",
            "",
            f"The run's preview at step {preview_step}, drawn with seed {t.seed} by the weights the run sampled with.",
            "",
        ]
    write_text_atomic(folder / CARD, "\n".join(lines))
    return folder / CARD
