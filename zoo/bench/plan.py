"""What `zoo benchmark` does for one plugin, resolved from the BenchmarkSpec it declares and the
command line: a Plan, JSON-able so that the worker process can take it as an argument."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from zoo.bench.common import keyed_folder
from zoo.errors import ZooError

EVALUATOR_METRICS = {"digit_fd", "digit_accuracy"}  # metrics that need a digit evaluator
QUICK_REFERENCE_IMAGES = 500  # --quick: FID's real images, the first of the reference split by name


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
    reference: str = ""  # the real images FID compares with (the spec's held-out split under the root)
    reference_limit: int | None = None  # at most this many of them (--quick)
    evaluator: dict | None = None  # file, real_accuracy, data: the digit evaluator for EVALUATOR_METRICS


def plan(
    spec,
    data_root: str | None,
    quick: bool,
    steps: int | None,
    samples: int | None,
    runs: Path,
    out_dir: Path,
    name: str,
) -> Plan:
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
        f"data.root={data}",
        f"train.steps={steps}",
        "train.sample_every=0",
        f"train.log_every={max(1, min(50, steps // 6))}",
        f"train.checkpoint_every={max(steps, 1)}",
        *(bench.quick_overrides if quick else bench.overrides),
    ]
    reference = str(root / bench.reference) if data and bench.reference else data
    if reference and not Path(reference).exists():
        raise ZooError(
            f"{spec.name}'s benchmark scores against {bench.reference} under --data-root, and {reference} does not "
            "exist"
        )
    config = spec.config(spec.read_configs(files), overrides).to_dict()
    return Plan(
        name=spec.name,
        family=spec.family,
        data=data,
        files=files,
        overrides=overrides,
        steps=steps,
        samples=samples or (bench.quick_samples if quick else bench.samples),
        metrics=metrics,
        run_dir=str(keyed_folder(runs, f"{spec.name}-{steps}steps", config, spec.version)),
        grid=str(out_dir / f"{name}-{spec.name}.png"),
        reference=reference,
        reference_limit=QUICK_REFERENCE_IMAGES if quick else None,
    )
