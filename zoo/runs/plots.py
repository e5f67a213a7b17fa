"""`zoo plot`: the logged metrics of one or more runs as curves, against steps and against training
wall time, overlaid run by run, in one PNG."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from zoo.errors import ZooError
from zoo.files import atomic_write
from zoo.runs import folders
from zoo.training.run_log import LOOP_KEYS, read_metrics

AXES = ("step", "elapsed_s")  # the x axes; the loop's other keys (speed) are plotted only when named


def logged_runs(run_dirs: Sequence[str | Path]) -> dict[str, list[dict]]:
    """{label: metrics.jsonl rows} for each run; labels are the folder paths as given."""
    runs = {}
    for run in run_dirs:
        path = Path(run) / folders.METRICS
        if not path.is_file():
            raise ZooError(f"{run} has no metrics.jsonl: pass run folders from `zoo run` (`zoo runs` lists them)")
        runs[str(run)] = read_metrics(run)
    return runs


def metric_names(runs: dict[str, list[dict]]) -> list[str]:
    """Every metric some run logged, in the order first seen."""
    names = {}
    for rows in runs.values():
        for row in rows:
            names.update(dict.fromkeys(k for k in row if k not in AXES))
    return list(names)


def curves(runs: dict[str, list[dict]], metric: str, axis: str) -> dict[str, tuple[list[float], list[float]]]:
    """{run: (x, y)} of `metric` against `axis`, for the runs that logged both (nulls skipped)."""
    found = {}
    for label, rows in runs.items():
        points = [(row[axis], row[metric]) for row in rows if row.get(axis) is not None and row.get(metric) is not None]
        if points:
            found[label] = ([x for x, _ in points], [y for _, y in points])
    return found


def plot(run_dirs: Sequence[str | Path], metrics: Sequence[str], out: str | Path):
    """Write the PNG: a row per metric, against steps (left) and wall time (right, where logged).
    Returns the matplotlib figure (tests read its lines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = logged_runs(run_dirs)
    available = metric_names(runs)
    unknown = [m for m in metrics if m not in available]
    if unknown:
        raise ZooError(f"no run logged {', '.join(unknown)}; metrics there: {', '.join(available) or 'none yet'}")
    metrics = list(metrics) or [m for m in available if m not in LOOP_KEYS]
    if not metrics:
        raise ZooError(f"the runs have logged no metrics yet; metrics there: {', '.join(available) or 'none'}")
    timed = any(curves(runs, m, "elapsed_s") for m in metrics)
    columns = 2 if timed else 1
    figure, axes = plt.subplots(len(metrics), columns, figsize=(5.5 * columns, 2.6 * len(metrics)), squeeze=False)
    for row, metric in enumerate(metrics):
        for column, axis in enumerate(AXES[:columns]):
            ax = axes[row][column]
            for label, (x, y) in curves(runs, metric, axis).items():
                ax.plot([v / 60 for v in x] if axis == "elapsed_s" else x, y, label=label, linewidth=1.2)
            ax.set_xlabel("training minutes" if axis == "elapsed_s" else "step")
            ax.set_ylabel(metric)
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    figure.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out, lambda tmp: figure.savefig(tmp, dpi=110, format="png"))
    plt.close(figure)
    return figure
