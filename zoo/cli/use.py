"""`zoo sample`, `zoo inspect`, `zoo predict`: using exported weights."""

from __future__ import annotations

from pathlib import Path

import click

from zoo.cli import common


@click.command()
@click.argument("name", required=False)
@click.option("--weights", required=True, help=common.WEIGHTS_HELP)
@click.option(
    "-n",
    "--num",
    "n",
    type=int,
    help="Number of images (default 1000 with --out). Class-conditional plugins: labels 0, 1, ..., 9, 0, ...",
)
@click.option(
    "--per-class",
    type=int,
    help="Class-conditional plugins: images per class, 0_001.png ... 9_100.png (default 100 with --out).",
)
@click.option(
    "--labels",
    "label_list",
    metavar="3,3,7",
    help="Class-conditional plugins: one image per label, 3_001.png 3_002.png 7_001.png.",
)
@click.option("--seed", default=0, show_default=True, help="Same seed, same images.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Folder for the images (HW2 naming).")
@click.option(
    "--grid",
    type=click.Path(dir_okay=False),
    help="Also (or only) save a grid PNG: the first 64 images, or for class-conditional plugins one row of 10 "
    "per class.",
)
@click.option(
    "--trajectory",
    type=click.Path(dir_okay=False),
    help="Samplers that record it: the first image's way from noise to image (of the first --labels class, "
    "else 0), as one strip.",
)
@click.option(
    "--scheduler",
    help="Samplers: which sampler to run, from those the plugin offers (`zoo describe NAME` lists them; "
    "ddpm_unet: ddpm, ddim, dpm, reference). Default: the file's sample.scheduler.",
)
@click.option("--steps", type=int, help="Samplers: sampling steps (default: the file's sample.steps).")
@click.option(
    "--guidance",
    type=float,
    help="Samplers: classifier-free guidance weight; 0 unconditional, 1 conditional, >1 stronger "
    "(default: the file's).",
)
@click.option("--batch-size", default=250, show_default=True)
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available).")
def sample(
    name,
    weights,
    n,
    per_class,
    label_list,
    seed,
    out_dir,
    grid,
    trajectory,
    scheduler,
    steps,
    guidance,
    batch_size,
    device,
):
    """Generate images from an exported weights file (NAME is optional: the file knows its plugin).

    \b
    zoo sample dcgan --weights dcgan.safetensors -n 1000 --seed 0 --out out/
    zoo sample dcgan --weights dcgan.safetensors -n 32 --seed 0 --grid first32.png
    zoo sample cgan --weights cgan.safetensors --labels 3,3,7 --out out/        (3_001.png 3_002.png 7_001.png)
    zoo sample ddpm_unet --weights ddpm.safetensors --per-class 100 --seed 0 --out out/   (0_001.png ... 9_100.png)
    zoo sample ddpm_unet --weights ddpm.safetensors --grid grid.png --trajectory strip.png --scheduler ddpm
    zoo sample ddpm_unet --weights ddpm.safetensors --per-class 100 --out out/ --scheduler dpm --steps 25 --guidance 2
    """
    from zoo.sampling import Request, check_request, parse_labels, write_samples
    from zoo.sharing.exports import load_model

    request = Request(
        out_dir=out_dir,
        grid=grid,
        trajectory=trajectory,
        n=n,
        per_class=per_class,
        labels=parse_labels(label_list) if label_list is not None else None,
        seed=seed,
        scheduler=scheduler,
        steps=steps,
        guidance=guidance,
        batch_size=batch_size,
    )
    _, plugin, _ = load_model(Path(weights), common.registry(), expected_plugin=name)
    checked = check_request(plugin, request)  # every option, once, before the model moves to the device
    plugin.to(common.device(device))
    write_samples(plugin, checked, echo=click.echo)


@click.command()
@click.argument("weights")
def inspect(weights):
    """Print what a weights file or model folder from `zoo export` holds: plugin, versions, image size,
    labels, config; for a model folder, then its model card (README.md)."""
    import yaml

    from zoo.config import PLUGIN_KEY
    from zoo.sharing.weights import read_model_file

    tensors, metadata, config = read_model_file(weights)
    parameters = sum(t.numel() for t in tensors.values())
    click.echo(
        f"{weights}: {metadata['plugin']} ({metadata.get('family', '?')}), {len(tensors)} tensors, {parameters:,} "
        "values"
    )
    for key in ("plugin_version", "zoo_version", "step", "ema", "image_size", "normalisation", "labels"):
        if key in metadata:
            click.echo(f"  {key + ':':<15} {metadata[key]}")
    if metadata["plugin"] in (registry := common.registry()):
        from zoo.sharing.weights import version_note

        installed = registry.get(metadata["plugin"]).version
        note = version_note(metadata, installed)
        click.echo(
            f"  {'installed:':<15} {metadata['plugin']} {installed}" + (f" - {note}" if note else " (compatible)")
        )
    else:
        click.echo(
            f"  {'installed:':<15} no '{metadata['plugin']}' plugin here (`zoo list`); install it to use this file"
        )
    click.echo("config:")
    click.echo(
        "  "
        + yaml.safe_dump({k: v for k, v in config.items() if k != PLUGIN_KEY}, sort_keys=False)
        .replace("\n", "\n  ")
        .rstrip()
    )
    card = Path(weights) / "README.md"
    if card.is_file():
        click.echo(f"\nmodel card ({card}):\n")
        click.echo(card.read_text())


@click.command()
@click.argument("name", required=False)
@click.option("--weights", required=True, help=common.WEIGHTS_HELP)
@click.option(
    "--data",
    "data_dir",
    required=True,
    type=click.Path(file_okay=False),
    help="A folder of images, or an HW2 domain folder (its data/ is used).",
)
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="The CSV to write (image_name,label).")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available).")
def predict(name, weights, data_dir, out, device):
    """Predict the digit in every image of a folder with a classifier or adapter: the HW2 hw2_3.sh contract.

    \b
    zoo predict dann --weights dann-usps.safetensors --data hw2_data/digits/usps/data --out pred.csv
    zoo eval adapt --predictions pred.csv --labels hw2_data/digits/usps/val.csv
    """
    from zoo.data.digits import load_image_folder
    from zoo.metrics.accuracy import predictions, write_predictions

    spec, plugin, _ = common.load_classifier(weights, name)
    images = load_image_folder(Path(data_dir), plugin.config.data.image_size)
    plugin.to(common.device(device))
    labels = predictions(plugin, images)
    write_predictions(out, images.names, labels)
    click.echo(f"wrote {out}: {len(labels)} predictions for {images.source}")
