"""`zoo benchmark` and `zoo plugin new`: measuring plugins, and starting one of your own."""

from __future__ import annotations

from pathlib import Path

import click

from zoo.errors import ZooError


@click.command()
@click.argument("names", nargs=-1)
@click.option("--all", "all_plugins", is_flag=True, help="Every registered plugin, third-party ones included.")
@click.option(
    "--data-root",
    type=click.Path(file_okay=False),
    help="The HW2 data folder (face/, digits/); each plugin trains on its part. Default: the embedded digits.",
)
@click.option("--quick", is_flag=True, help="A few dozen steps per plugin: about 3 minutes for all on 2 CPU cores.")
@click.option("--steps", type=int, help="Training steps for every model, evaluators included (default: each spec's).")
@click.option(
    "--samples",
    type=int,
    help="Outputs per plugin for throughput and quality (default: each spec's, 1000 or 100 quick).",
)
@click.option(
    "--study",
    is_flag=True,
    help="Run the one plugin's deeper study instead (dann: the HW2 table; ddpm_unet: samplers).",
)
@click.option("--out", "out_dir", default="benchmarks/results", show_default=True, type=click.Path(file_okay=False))
def benchmark(names, all_plugins, data_root, quick, steps, samples, study, out_dir):
    """Train and measure plugins; write a JSON + markdown table (and a picture per plugin) to --out.

    For each plugin: training images/s, engine-vs-plain-PyTorch step time, sampling images/s and
    network evaluations per image, peak memory, and its quality metrics (digit accuracy, digit FD,
    face rate, FID, held-out accuracy), each with how it was measured. Training runs live in
    runs/benchmark/ and are reused when finished, resumed when interrupted.

    \b
    zoo benchmark --all --quick                          every plugin, embedded digits, ~3 min on 2 CPU cores
    zoo benchmark --all --data-root hw2_data             the full run (meant for a GPU)
    zoo benchmark dcgan sagan --quick                    a subset
    zoo benchmark dann --study --data-root hw2_data/digits       the HW2 DANN table, t-SNE pictures
    zoo benchmark ddpm_unet --study --data-root hw2_data/digits/mnistm   accuracy vs sampler and steps
    """
    for flag, value in (("--steps", steps), ("--samples", samples)):
        if value is not None and value < 1:
            raise ZooError(f"{flag} must be at least 1, got {value}")
    if study:
        if len(names) != 1 or all_plugins:
            raise ZooError("--study runs one plugin's study: zoo benchmark NAME --study")
        from zoo.bench.suite import run_study

        for path in run_study(names[0], data_root, quick, steps, Path(out_dir)):
            click.echo(f"wrote {path}")
        return
    if bool(names) == all_plugins:
        raise ZooError("name the plugins to benchmark, or give --all (not both)")
    from zoo.bench.suite import run_suite

    for path in run_suite(names, data_root, quick, steps, Path(out_dir), samples=samples, echo=click.echo):
        click.echo(f"wrote {path}")


@click.group("plugin")
def plugin_group():
    """Make your own plugin."""


@plugin_group.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "parent",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the NAME/ folder goes.",
)
@click.option(
    "--family",
    default="generator",
    show_default=True,
    type=click.Choice(["generator", "gan", "sampler", "classifier", "adapter"]),
    help="generator: a class-conditional VAE (one pass); gan: a hinge GAN with an R1 penalty on zoo.gan.GAN; "
    "sampler: conditional flow matching (Euler/Heun steps); classifier: a small CNN; "
    "adapter: domain-adversarial (gradient reversal).",
)
def plugin_new(name, parent, family):
    """Scaffold a pip-installable plugin package in ./NAME: pyproject.toml with the `zoo.plugins`
    entry point, a small working model of the chosen family with its default config, and a contract test.

    \b
    zoo plugin new my_vae
    zoo plugin new my_flow --family sampler
    zoo plugin new my_gan --family gan          (R1 penalty; faces.yaml for zoo benchmark --data-root)
    pip install -e ./my_vae && zoo list        # my_vae is listed
    pytest my_vae/tests                        # zoo.testing.check_plugin
    See CONTRIBUTING.md for what a plugin must do.
    """
    from zoo.scaffold import new_plugin

    files = new_plugin(name, Path(parent), family)
    root = Path(parent) / name
    for path in files:
        click.echo(f"wrote {path}")
    click.echo(f"next: pip install -e {root} && zoo run {name} --set train.steps=200 && pytest {root / 'tests'}")
