"""The `zoo` command line. Every command speaks to plugins through their family interface only."""

from __future__ import annotations

import time
from pathlib import Path

import click

import zoo
from zoo.errors import ZooError

SET_HELP = "Override one config key, e.g. --set train.steps=2000 (repeatable)."


class ZooGroup(click.Group):
    """Turns ZooError (bad input, missing files, ...) into a one-line message and exit code 1."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ZooError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=ZooGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(zoo.__version__, prog_name="zoo")
def cli():
    """Train, sample, compare and share the DLCV HW2 models: GANs, conditional diffusion, DANN.

    \b
    zoo list                       what plugins exist
    zoo describe dcgan             architecture, parameter counts, config keys
    zoo run dcgan                  train (embedded digits, no download)
    zoo export runs/dcgan --out dcgan.safetensors
    zoo sample dcgan --weights dcgan.safetensors -n 1000 --out out/
    """


def _registry():
    from zoo.registry import Registry

    return Registry.discover()


def _config_files(paths):
    from zoo.config import read_yaml

    return [read_yaml(p) for p in paths]


@cli.command("list")
def list_plugins():
    """List the plugins: built-in ones and those installed as packages."""
    specs = _registry().specs()
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


@cli.command()
@click.argument("name")
@click.option("--config", "config_files", multiple=True, type=click.Path(dir_okay=False), help="YAML config file(s).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
def describe(name, config_files, overrides):
    """Print a plugin's modules (print(model)), parameter counts and config."""
    from zoo.config import dump

    spec = _registry().get(name)
    config = spec.config(_config_files(config_files), overrides)
    plugin = spec.build(config)
    click.echo(f"{spec.name}: {spec.summary}\nfamily: {spec.family}    source: {spec.source}\n")
    for module_name, module in plugin.modules.items():
        total = sum(p.numel() for p in module.parameters())
        trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
        click.echo(f"== {module_name}: {total:,} parameters ({trainable:,} trainable)")
        click.echo(f"{module}\n")
    click.echo("== config (change with --config FILE or --set KEY=VALUE)")
    click.echo(dump(config, spec.name))


@cli.command()
@click.argument("name")
@click.option("--config", "config_files", multiple=True, type=click.Path(dir_okay=False), help="YAML config file(s), applied in order.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help=SET_HELP)
@click.option("--out", type=click.Path(file_okay=False), help="Run folder (default: runs/NAME).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its newest checkpoint.")
def run(name, config_files, overrides, out, resume):
    """Train a plugin. Writes checkpoints, metrics.jsonl and preview grids into the run folder.

    \b
    zoo run dcgan                                   embedded digits, a few minutes on a CPU
    zoo run dcgan --config plugins/dcgan/faces.yaml --set data.root=PATH/face/train --out runs/faces
    zoo run dcgan --out runs/faces --resume         continue where it stopped
    zoo run dcgan --out runs/faces --resume --set train.steps=40000   ... and train longer
    accelerate launch -m zoo run dcgan ...          several GPUs, mixed precision (train.mixed_precision)
    """
    from zoo import checkpoints
    from zoo.engine import Trainer
    from zoo.models import run_plugin

    registry = _registry()
    spec = registry.get(name)
    run_dir = Path(out or Path("runs") / name)
    files = _config_files(config_files)
    if resume:
        run_spec, saved = run_plugin(run_dir, registry)
        if run_spec.name != spec.name:
            raise ZooError(f"the run in {run_dir} is a '{run_spec.name}' run, not '{spec.name}'")
        files = [saved, *files]
    elif checkpoints.all_checkpoints(run_dir):
        raise ZooError(
            f"{run_dir} already holds a run (checkpoint {checkpoints.latest(run_dir).name}); "
            "add --resume to continue it, or choose another --out"
        )
    config = spec.config(files, overrides)
    started = time.perf_counter()
    trainer = Trainer(spec, config, run_dir)
    checkpoint = trainer.fit(resume=resume)
    if trainer.accelerator.is_main_process:
        minutes, seconds = divmod(time.perf_counter() - started, 60)
        click.echo(f"done: step {trainer.step} in {int(minutes)}m{seconds:02.0f}s, checkpoint {checkpoint}")
        samples = sorted((run_dir / "samples").glob("*.png"))
        if samples:
            click.echo(f"latest samples: {samples[-1]}")
        click.echo(f"share it: zoo export {run_dir} --out {spec.name}.safetensors")


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The .safetensors file to write.")
@click.option("--step", type=int, help="Export this checkpoint instead of the newest.")
@click.option("--no-ema", is_flag=True, help="Export the raw weights even if the run kept an EMA.")
def export(run_dir, out, step, no_ema):
    """Write a run's inference weights + config to one .safetensors file."""
    from zoo.models import export_run

    metadata = export_run(Path(run_dir), Path(out), _registry(), step=step, use_ema=not no_ema)
    ema = " (EMA weights)" if metadata["ema"] == "true" else ""
    click.echo(f"wrote {out}: {metadata['plugin']} at step {metadata['step']}{ema}")


@cli.command()
@click.argument("name", required=False)
@click.option("--weights", required=True, type=click.Path(dir_okay=False), help="A file written by `zoo export`.")
@click.option("-n", "--num", "n", default=1000, show_default=True, help="Number of images.")
@click.option("--seed", default=0, show_default=True, help="Same seed, same images.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Folder for 0000.png, 0001.png, ... (HW2 naming).")
@click.option("--grid", type=click.Path(dir_okay=False), help="Also (or only) save all images as one grid PNG.")
@click.option("--batch-size", default=256, show_default=True)
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available).")
def sample(name, weights, n, seed, out_dir, grid, batch_size, device):
    """Generate images from an exported weights file (NAME is optional: the file knows its plugin).

    \b
    zoo sample dcgan --weights dcgan.safetensors -n 1000 --seed 0 --out out/
    zoo sample dcgan --weights dcgan.safetensors -n 32 --seed 0 --grid first32.png
    """
    import torch

    from zoo.models import load_model
    from zoo.viz import hw2_names, save_grid, save_images

    if not out_dir and not grid:
        raise ZooError("say where the images go: --out FOLDER and/or --grid FILE.png")
    if n < 1:
        raise ZooError(f"-n must be at least 1, got {n}")
    spec, plugin, _ = load_model(Path(weights), _registry(), expected_plugin=name)
    if spec.family != "generator":
        raise ZooError(f"'{spec.name}' is a {spec.family} plugin; `zoo sample` here supports generator plugins")
    plugin.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    images = plugin.generate(n, seed=seed, batch_size=batch_size)
    if out_dir:
        save_images(images, out_dir, hw2_names(n))
        click.echo(f"wrote {n} images to {out_dir}")
    if grid:
        save_grid(images, grid, nrow=8)
        click.echo(f"wrote {grid}")


def main():
    cli(prog_name="zoo")
