"""`zoo runs`, `zoo plot`: watching and comparing runs (TensorBoard is `train.log_with=tensorboard`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from zoo.errors import ZooError


def _metrics_cell(metrics: dict, width: int = 48) -> str:
    text = " ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items())
    return text if len(text) <= width else text[: width - 3] + "..."


def _wall(seconds) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{secs:02d}s"


@click.command()
@click.argument("root", default="runs", type=click.Path(file_okay=False))
@click.option(
    "--json", "as_json", is_flag=True, help="Print the rows as JSON (every logged metric, the status message)."
)
def runs(root, as_json):
    """A table of the run folders under ROOT (default runs/), the most recently active first.

    \b
    STEPS    steps done / planned
    STATUS   running, finished, stopped (Ctrl-C, time limit), non-finite, failed
    METRICS  the last value of each logged metric (training losses, evaluation scores)
    WALL     training wall time; CHECKPOINT: the newest one (what --resume and export use)

    \b
    zoo runs
    zoo runs runs/benchmark --json | jq '.[] | select(.status == "failed")'
    """
    from zoo.runs.table import table

    if not Path(root).is_dir():
        raise ZooError(f"{root} is not a folder; `zoo run NAME` puts runs in runs/ (or where --out says)")
    rows = table(Path(root))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no runs under {root} (a run folder holds config.yaml and metrics.jsonl or checkpoints/)")
        return
    header = ("RUN", "PLUGIN", "STEPS", "STATUS", "METRICS", "WALL", "CHECKPOINT")
    cells = [
        (
            r["run"],
            r["plugin"],
            f"{r['step']}/{r['steps'] or '?'}",
            r["status"],
            _metrics_cell(r["metrics"]),
            _wall(r["wall_s"]),
            r["checkpoint"] or "-",
        )
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in [header, *cells]) for i in range(len(header))]
    for row in [header, *cells]:
        click.echo("  ".join(f"{str(cell):<{w}}" for cell, w in zip(row, widths)).rstrip())


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option(
    "--metric",
    "metrics",
    multiple=True,
    help="A logged metric to plot (repeatable). Default: every one but images_per_s and data_share.",
)
@click.option("--out", default="plot.png", show_default=True, type=click.Path(dir_okay=False), help="The PNG to write.")
def plot(run_dirs, metrics, out):
    """Curves of the logged metrics of one or more runs, overlaid: against steps, and against training
    wall time where the log has it (runs from before zoo logged elapsed_s have steps only).

    \b
    zoo plot runs/dcgan runs/dcgan-2 runs/sagan --out compare.png
    zoo plot runs/digit_classifier --metric loss --metric val_acc
    """
    from zoo.runs.plots import plot as draw

    figure = draw(run_dirs, metrics, out)
    shown = sorted({ax.get_ylabel() for ax in figure.axes})
    click.echo(f"wrote {out}: {', '.join(shown)} for {len(run_dirs)} run(s)")
