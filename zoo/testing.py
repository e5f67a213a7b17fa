"""The plugin contract, as a check plugin authors call from their own tests.

    from zoo.testing import check_plugin

    def test_my_plugin_keeps_the_zoo_contract(tmp_path):
        check_plugin("my_plugin", tmp_path, overrides=["train.batch_size=8"])

`RecordingStep` is a TrainStep for a plugin's own unit tests: call `training_step(batch,
RecordingStep(index))` and read `step.updates` (which optimizers were stepped) and `step.losses`.

`check_plugin` does what the zoo will do with the plugin: finds it in the registry (built-in or
installed), builds it from its default config, trains a few steps through the engine (checkpoint,
metrics log), uses it through its family interface, exports the weights and loads them back from the
file alone. Generators and samplers then go through the code behind `zoo sample` (zoo.sampling:
--out, --grid, -n, --labels, --per-class, --trajectory, every scheduler the plugin offers) and
`zoo benchmark` (its outputs and its spec), and one step goes through the plain reference loop
with a bare TrainStep. Each broken promise is an AssertionError that says which
one and how to keep it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch

from zoo.bench.plain_loop import PlainLoop, RecordingStep
from zoo.bench.quality import METRICS
from zoo.bench.worker import benchmark_outputs
from zoo.errors import ConfigError
from zoo.interfaces import FAMILIES, Adapter, Classifier, Generator, Plugin, Sampler, class_conditional, has_trajectory
from zoo.registry import Registry
from zoo.sampling import Request, check_request, settings, write_samples
from zoo.sharing.exports import export_run, load_model
from zoo.training import checkpoints
from zoo.training.engine import start_run
from zoo.training.run_log import read_metrics

__all__ = ["RecordingStep", "check_plugin"]

OUTPUTS = 4  # images generated / sampled / classified by the check


def check_plugin(name: str, tmp_path: str | Path, overrides: Sequence[str] = (), steps: int = 2) -> dict:
    """Train, use, export and reload plugin `name`; returns what was checked (for a test to print)."""

    tmp_path = Path(tmp_path)
    registry = Registry.discover()
    assert name in registry, (
        f"'{name}' is not registered: add it to the 'zoo.plugins' entry points and pip install the package"
    )
    spec = registry.get(name)
    assert spec.load_error is None, spec.load_error
    cls = spec.plugin_class
    assert spec.summary, f"{cls.__name__} needs a docstring (its first line is the summary `zoo list` shows)"
    assert cls.export_modules, (
        f"{cls.__name__}.export_modules must name the modules inference needs (what `zoo export` writes)"
    )

    config = spec.config([], [*overrides, f"train.steps={steps}", "train.log_every=1", "train.sample_every=0"])
    run_dir = tmp_path / f"check-{name}"
    trainer, _ = start_run(spec, config, run_dir)
    assert checkpoints.step_of(checkpoints.latest(run_dir)) == steps, (
        "the engine did not save a checkpoint at the last step"
    )
    logged = [
        (row["step"], key, value)
        for row in read_metrics(run_dir)
        for key, value in row.items()
        if isinstance(value, float)
    ]
    assert logged, "training_step must return the scalars to log, e.g. {'loss': loss.detach()}"
    bad = [(step, key) for step, key, value in logged if not math.isfinite(value)]
    assert not bad, f"non-finite values in the training log: {bad}"

    # The same step outside the engine, as `zoo benchmark`'s reference loop takes it: a plugin that
    # reaches past the TrainStep contract (step.accelerator, say) fails here, not in a benchmark.
    try:
        PlainLoop(spec, config, torch.device("cpu")).step()
    except AttributeError as exc:
        raise AssertionError(
            f"training_step used something a TrainStep does not offer ({exc}); it may use only step.index, "
            "step.device, step.unwrap and step.optimize (zoo.interfaces.TrainStep)"
        ) from exc

    trained = trainer.plugin
    with trained.modules_swapped(trainer.inference_modules()):
        expected = use(trained)
        assert_same(
            expected, use(trained), "two calls with the same seed gave different outputs: draw all noise from the seed"
        )

    weights = tmp_path / f"{name}.safetensors"
    metadata = export_run(run_dir, weights, registry)
    for key in ("plugin", "plugin_version", "zoo_version", "config", "image_size", "normalisation"):
        assert key in metadata, f"the exported file lacks '{key}' in its metadata"
    _, loaded, _ = load_model(weights, registry, expected_plugin=name)
    assert_same(
        expected,
        use(loaded),
        "the weights loaded from the exported file do not reproduce the trained model; "
        "export_modules must name every module inference uses",
    )
    if isinstance(loaded, (Generator, Sampler)):
        check_sampling_paths(loaded, tmp_path / f"samples-{name}")
    check_benchmark_spec(loaded)
    return {"plugin": name, "family": cls.family, "steps": steps, "weights": str(weights), "metadata": metadata}


@torch.no_grad()
def use(plugin: Plugin) -> dict[str, torch.Tensor]:
    """The plugin used through its family interface, with the output shapes each family promises."""
    assert plugin.family in FAMILIES, f"family '{plugin.family}' is not one of {', '.join(FAMILIES)}"
    size = plugin.config.data.image_size
    if isinstance(plugin, Generator) and not class_conditional(plugin):
        images = plugin.generate(OUTPUTS, seed=0, batch_size=3)  # a batch size that does not divide n
        _assert_images(images, OUTPUTS, size, "generate")
        first = plugin.generate(1, seed=0)
        assert torch.allclose(first, images[:1], atol=1e-5), (
            "generate: image i must depend on (seed, i) only, not on n or the batch size"
        )
        return {"images": images}
    if isinstance(plugin, (Generator, Sampler)):
        assert plugin.num_classes >= 1, "num_classes must be at least 1 for a class-conditional plugin"
        method = "generate" if isinstance(plugin, Generator) else "sample"
        labels = torch.tensor([1, 0, 1, 0]) % plugin.num_classes
        images = _conditional(plugin, labels, batch_size=3)  # a batch size that does not divide n
        _assert_images(images, OUTPUTS, size, method)
        # The second 0 drawn alone must be the second 0 of the full draw, whatever else is drawn beside it.
        alone = _conditional(plugin, torch.tensor([0, 0]), batch_size=1)
        assert plugin.num_classes == 1 or torch.allclose(alone[1], images[3], atol=1e-4), (
            f"{method}: image i must depend on (seed, label, rank of i among that label's images) only, not on the "
            "other labels, n or the batch size: draw its noise from zoo.noise.per_image_generators"
        )
        return {"images": images}
    if isinstance(plugin, Classifier):
        inputs = torch.rand(OUTPUTS, 3, size, size, generator=torch.Generator().manual_seed(0)) * 2 - 1
        predicted, features = plugin.predict(inputs.to(plugin.device)), plugin.embed(inputs.to(plugin.device))
        assert predicted.shape == (OUTPUTS,) and not predicted.is_floating_point(), (
            f"predict must return class indices of shape ({OUTPUTS},), got {tuple(predicted.shape)} {predicted.dtype}"
        )
        assert features.ndim == 2 and len(features) == OUTPUTS, (
            f"embed must return ({OUTPUTS}, d) features, got {tuple(features.shape)}"
        )
        if isinstance(plugin, Adapter):
            target = plugin.domain("target", "val")
            assert len(target) > 0, "domain('target', 'val') is empty"
        return {"predicted": predicted.cpu(), "features": features.cpu()}
    raise AssertionError(f"{type(plugin).__name__} is a Plugin but not a Generator, Sampler, Classifier or Adapter")


def _conditional(plugin, labels: torch.Tensor, batch_size: int) -> torch.Tensor:
    if isinstance(plugin, Generator):
        return plugin.generate(len(labels), 0, batch_size=batch_size, labels=labels)
    return plugin.sample(labels, 0, batch_size=batch_size)


def check_sampling_paths(plugin: Plugin, folder: Path) -> None:
    """What `zoo sample` and `zoo benchmark` will do with a Generator or Sampler, through the same code."""

    quiet = lambda message: None  # noqa: E731
    requests = {"-n 3 --out --grid": Request(out_dir=folder / "n", grid=folder / "grid.png", n=3, batch_size=2)}
    if class_conditional(plugin):
        requests["--labels 1,1,0 --out"] = Request(out_dir=folder / "labels", labels=[1 % plugin.num_classes] * 2 + [0])
        requests["--per-class 1 --out --grid"] = Request(
            out_dir=folder / "per_class", grid=folder / "class_grid.png", per_class=1
        )
    if has_trajectory(plugin):
        requests["--trajectory"] = Request(trajectory=folder / "trajectory.png")
    for flags, request in requests.items():
        try:
            written = write_samples(plugin, check_request(plugin, request), echo=quiet, progress=False)
        except Exception as exc:
            raise AssertionError(f"`zoo sample {flags}` fails: {type(exc).__name__}: {exc}") from exc
        assert written and all(path.is_file() for path in written), f"`zoo sample {flags}` wrote nothing"
    if isinstance(plugin, Sampler):
        assert plugin.noise_schedulers, (
            "noise_schedulers must name the samplers --scheduler may choose (e.g. ('euler',))"
        )
        default = settings(plugin)
        assert default["scheduler"] in plugin.noise_schedulers, (
            f"the default scheduler '{default['scheduler']}' is not in noise_schedulers"
        )
        try:
            settings(plugin, "no-such-scheduler")
        except ConfigError as exc:
            assert all(name in str(exc) for name in plugin.noise_schedulers), (
                f"sampling_defaults refused an unknown scheduler without naming the ones it offers: {exc}"
            )
        else:
            raise AssertionError(
                "sampling_defaults('no-such-scheduler', ...) must raise zoo.errors.ConfigError naming the "
                "schedulers it offers: it is the one place `zoo sample --scheduler` is checked"
            )
        for scheduler in plugin.noise_schedulers:
            chosen = settings(plugin, scheduler)
            assert chosen["scheduler"] == scheduler, (
                f"sampling_defaults('{scheduler}', ...) chose '{chosen['scheduler']}'"
            )
            images = plugin.sample(torch.tensor([0]), 0, **chosen)
            _assert_images(images, 1, plugin.config.data.image_size, f"sample with scheduler '{scheduler}'")
    images, labels, _, _ = benchmark_outputs(plugin, OUTPUTS)
    assert images is not None and len(images) >= 1, "`zoo benchmark` drew no outputs"


def check_benchmark_spec(plugin: Plugin) -> None:
    """The plugin's BenchmarkSpec names metrics and a config file that exist."""

    spec = type(plugin).benchmark
    if spec is None:
        return
    unknown = [m for m in spec.metrics if m not in METRICS]
    assert not unknown, f"benchmark.metrics names {unknown}; zoo benchmark measures {', '.join(METRICS)}"


def _assert_images(images: torch.Tensor, n: int, size: int, method: str) -> None:
    assert images.shape == (n, 3, size, size), (
        f"{method} must return ({n}, 3, {size}, {size}) images, got {tuple(images.shape)}"
    )
    assert images.device.type == "cpu", f"{method} must return images on the CPU"
    assert torch.isfinite(images).all(), f"{method} returned non-finite pixels"
    assert images.min() >= -1.0001 and images.max() <= 1.0001, f"{method} must return pixels in [-1, 1]"


def assert_same(expected: dict[str, torch.Tensor], actual: dict[str, torch.Tensor], message: str) -> None:
    for key, value in expected.items():
        assert torch.allclose(value.float(), actual[key].float(), atol=1e-5), f"{message} ({key})"
