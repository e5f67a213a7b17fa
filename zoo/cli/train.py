"""`zoo list`, `zoo describe`, `zoo run`, `zoo export`: what plugins there are, training one, sharing the result."""

from __future__ import annotations

import time
from pathlib import Path

import click

from zoo.cli import common


@click.command("list")
def list_plugins():
    """List the plugins: the built-ins and those installed as packages.

    SOURCE is the distribution each comes from and its version: zoo itself for the built-ins.
    `zoo describe NAME` shows its module, folder and shipped configs."""
    specs = common.registry().specs()
    rows = []
    for spec in specs:
        error = spec.load_error
        rows.append((spec.name, spec.family or "?", spec.source, f"BROKEN: {error}" if error else spec.summary))
    if not rows:
        click.echo("no plugins found")
        return
    widths = [max(len(r[i]) for r in rows + [("NAME", "FAMILY", "SOURCE", "")]) for i in range(3)]
    click.echo(f"{'NAME':<{widths[0]}}  {'FAMILY':<{widths[1]}}  {'SOURCE':<{widths[2]}}  SUMMARY")
    for row in rows:
        click.echo(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}")


@click.command()
@click.argument("name")
@click.option("--config", "config_files", multiple=True, metavar="FILE|NAME", help=common.CONFIG_HELP)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=common.SET_HELP)
def describe(name, config_files, overrides):
    """Print a plugin's modules (print(model)), parameter counts, config and what it can do.

    A plugin that fails to load gets its full traceback here (`zoo list` shows one line).
    """
    from zoo.config import dump
    from zoo.errors import PluginError
    from zoo.interfaces import capabilities

    spec = common.registry().get(name)
    try:
        spec.load()
    except PluginError as exc:
        click.echo(getattr(exc, "details", ""), err=True, nl=False)
        raise
    config = spec.config(spec.read_configs(config_files), overrides)
    plugin = spec.build(config)
    click.echo(f"{spec.name}: {spec.summary}\nfamily: {spec.family}    source: {spec.source} ({spec.target})")
    click.echo(f"folder: {spec.folder}")
    click.echo(f"configs (--config NAME): {', '.join(spec.shipped_configs()) or 'none'}")
    click.echo("\n".join(capabilities(plugin)) + "\n")
    for module_name, module in plugin.modules.items():
        total = sum(p.numel() for p in module.parameters())
        trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
        click.echo(f"== {module_name}: {total:,} parameters ({trainable:,} trainable)")
        click.echo(f"{module}\n")
    click.echo("== config (change with --config FILE or --set KEY=VALUE)")
    click.echo(dump(config, spec.name))


@click.command()
@click.argument("name")
@click.option("--config", "config_files", multiple=True, metavar="FILE|NAME", help=common.CONFIG_HELP)
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=common.SET_HELP)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    help="Run folder (default: runs/NAME, or runs/NAME-2, -3, ... when that one is taken).",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue the run in --out (default: the newest runs/NAME[-K]) from its newest checkpoint.",
)
def run(name, config_files, overrides, out, resume):
    """Train a plugin. Writes checkpoints, metrics.jsonl and preview grids into the run folder.

    \b
    zoo run dcgan                                   embedded digits, a few minutes on a CPU
    zoo run dcgan                                   again: a new run in runs/dcgan-2
    zoo run dcgan --resume                          continue the newest dcgan run where it stopped
    zoo run dcgan --config faces --set data.root=PATH/face/train --out runs/faces   (plugins/dcgan/faces.yaml)
    zoo run dcgan --out runs/faces --resume --set train.steps=40000   ... and train longer
    accelerate launch -m zoo run dcgan ...          several GPUs, mixed precision (train.mixed_precision)
    """
    from zoo.api import fit
    from zoo.runs import folders

    registry = common.registry()
    spec = registry.get(name)
    started = time.perf_counter()
    run_dir, trainer, checkpoint = fit(spec, registry, config_files, overrides, out, resume)
    if trainer.accelerator.is_main_process:
        minutes, seconds = divmod(time.perf_counter() - started, 60)
        click.echo(f"done: step {trainer.step} in {int(minutes)}m{seconds:02.0f}s, checkpoint {checkpoint}")
        samples = sorted((run_dir / folders.SAMPLES).glob("*.png"))
        if samples:
            click.echo(f"latest samples: {samples[-1]}")
        click.echo(f"share it: zoo export {run_dir} --out {spec.name}.safetensors")


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option(
    "--out",
    required=True,
    type=click.Path(),
    help="NAME.safetensors: one file. Any other path: a model folder (config.json + model.safetensors).",
)
@click.option("--step", type=int, help="Export this checkpoint instead of the newest.")
@click.option("--no-ema", is_flag=True, help="Export the raw weights even if the run kept an EMA.")
def export(run_dir, out, step, no_ema):
    """Write a run's inference weights + config: one .safetensors file, or a model folder.

    Either is all `zoo sample` / `zoo predict` need: plugin name and version, zoo version, config,
    image size, normalisation and labels travel in the metadata (`zoo inspect` prints them). A model
    folder has the layout Hugging Face tools expect (config.json + model.safetensors) and a model
    card (README.md: what the model is, its training, the figures measured on it, how to sample,
    its sample grid as samples.png), so it can be uploaded to the Hub as it is; config.json may be
    edited (e.g. sample.steps).

    \b
    zoo export runs/dcgan --out dcgan.safetensors
    zoo export runs/ddpm_unet --out models/ddpm_unet          (model folder)
    zoo sample --weights models/ddpm_unet --grid grid.png
    """
    from zoo.sharing.exports import export_run

    metadata = export_run(Path(run_dir), Path(out), common.registry(), step=step, use_ema=not no_ema)
    ema = " (EMA weights)" if metadata["ema"] == "true" else ""
    kind = (
        "" if out.endswith(".safetensors") else " (model folder: config.json, model.safetensors, README.md model card)"
    )
    click.echo(f"wrote {out}{kind}: {metadata['plugin']} at step {metadata['step']}{ema}")
