"""The `zoo` command line. Every command speaks to plugins through their family interface only."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

import click

import zoo
from zoo.errors import ZooError

WEIGHTS_HELP = "A file or model folder written by `zoo export` (or a Hugging Face Hub id, when online)."
SET_HELP = "Override one config key, e.g. --set train.steps=2000 (repeatable)."


class ZooGroup(click.Group):
    """Turns ZooError (bad input, missing files, ...) and OSError (full disk, no permission) into a
    one-line message and exit code 1, zoo's warnings into one line each, and SIGTERM into the same
    clean stop as Ctrl-C (so that files being written are finished or removed, never left cut short)."""

    def invoke(self, ctx):
        import os
        import signal
        import sys
        import threading
        import warnings

        from zoo.errors import ZooWarning, os_error_line

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, ZooWarning):
                click.echo(f"warning: {message}", err=True)
            else:
                default_show(message, category, filename, lineno, file, line)

        def terminate(signum, frame):
            raise KeyboardInterrupt

        default_show = warnings.showwarning
        warnings.showwarning = show
        main_thread = threading.current_thread() is threading.main_thread()
        default_term = signal.signal(signal.SIGTERM, terminate) if main_thread else None
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # `zoo ... | head`: the reader has all it wanted
            sys.stderr = open(os.devnull, "w")
            raise SystemExit(0) from None
        except (ZooError, OSError) as exc:
            if ctx.params.get("debug"):
                import traceback

                click.echo(getattr(exc, "details", None) or "".join(traceback.format_exception(exc)), err=True, nl=False)
            raise click.ClickException(str(exc) if isinstance(exc, ZooError) else os_error_line(exc)) from None
        finally:
            warnings.showwarning = default_show
            if main_thread:
                signal.signal(signal.SIGTERM, default_term)


@click.group(cls=ZooGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(zoo.__version__, prog_name="zoo")
@click.option("--debug", is_flag=True, help="On an error, print the full traceback before its one-line message.")
def cli(debug):
    """Train, sample, compare and share the DLCV HW2 models: GANs, conditional diffusion, DANN.

    \b
    zoo list                       what plugins exist
    zoo describe dcgan             architecture, parameter counts, config keys
    zoo run dcgan                  train (embedded digits, no download)
    zoo export runs/dcgan --out dcgan.safetensors
    zoo sample dcgan --weights dcgan.safetensors -n 1000 --out out/
    zoo benchmark --all --quick    every plugin trained and measured, ~3 min on 2 CPU cores
    zoo plugin new my_vae          start your own plugin (see CONTRIBUTING.md)
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
    """Print a plugin's modules (print(model)), parameter counts, config and what it can do.

    A plugin that fails to load gets its full traceback here (`zoo list` shows one line).
    """
    from zoo.config import dump
    from zoo.errors import PluginError

    spec = _registry().get(name)
    try:
        spec.plugin_class
    except PluginError as exc:
        click.echo(getattr(exc, "details", ""), err=True, nl=False)
        raise
    config = spec.config(_config_files(config_files), overrides)
    plugin = spec.build(config)
    click.echo(f"{spec.name}: {spec.summary}\nfamily: {spec.family}    source: {spec.source}")
    click.echo(_capabilities(plugin) + "\n")
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
@click.option("--out", type=click.Path(file_okay=False),
              help="Run folder (default: runs/NAME, or runs/NAME-2, -3, ... when that one is taken).")
@click.option("--resume", is_flag=True,
              help="Continue the run in --out (default: the newest runs/NAME[-K]) from its newest checkpoint.")
def run(name, config_files, overrides, out, resume):
    """Train a plugin. Writes checkpoints, metrics.jsonl and preview grids into the run folder.

    \b
    zoo run dcgan                                   embedded digits, a few minutes on a CPU
    zoo run dcgan                                   again: a new run in runs/dcgan-2
    zoo run dcgan --resume                          continue the newest dcgan run where it stopped
    zoo run dcgan --config plugins/dcgan/faces.yaml --set data.root=PATH/face/train --out runs/faces
    zoo run dcgan --out runs/faces --resume --set train.steps=40000   ... and train longer
    accelerate launch -m zoo run dcgan ...          several GPUs, mixed precision (train.mixed_precision)
    """
    from zoo import checkpoints, run_folders
    from zoo.engine import Trainer
    from zoo.models import read_run_config

    registry = _registry()
    spec = registry.get(name)
    files = _config_files(config_files)
    config = spec.config(files, overrides)  # a typo in --set or --config is the first thing to hear about
    if resume:
        run_dir = Path(out) if out else run_folders.newest_with_checkpoint(spec.name)
        run_spec, saved = read_run_config(run_dir, registry)
        if run_spec.name != spec.name:
            raise ZooError(f"the run in {run_dir} is a '{run_spec.name}' run, not '{spec.name}'")
        config = spec.config([saved, *files], overrides)
    elif out:
        run_dir = Path(out)
        if checkpoints.all_checkpoints(run_dir):
            raise ZooError(
                f"{run_dir} already holds a run (checkpoint {checkpoints.latest(run_dir).name}); "
                "add --resume to continue it, or choose another --out"
            )
    else:
        run_dir = _claim_run_dir(spec.name)  # the banner says which
    started = time.perf_counter()
    # Held from before the data is read (minutes for a large folder), not only from when training starts.
    with run_folders.held(run_dir) if _process_state().is_main_process else contextlib.nullcontext():
        trainer = Trainer(spec, config, run_dir)
        checkpoint = trainer.fit(resume=resume)
    if trainer.accelerator.is_main_process:
        minutes, seconds = divmod(time.perf_counter() - started, 60)
        click.echo(f"done: step {trainer.step} in {int(minutes)}m{seconds:02.0f}s, checkpoint {checkpoint}")
        samples = sorted((run_dir / "samples").glob("*.png"))
        if samples:
            click.echo(f"latest samples: {samples[-1]}")
        click.echo(f"share it: zoo export {run_dir} --out {spec.name}.safetensors")


def _capabilities(plugin) -> str:
    """What `zoo sample` can ask of the plugin: its labels, samplers and trajectory."""
    from zoo.interfaces import Sampler, class_conditional, has_trajectory

    lines = []
    if class_conditional(plugin):
        lines.append(f"class-conditional: labels 0-{plugin.num_classes - 1} (zoo sample --per-class / --labels / -n)")
    elif plugin.family == "generator":
        lines.append("unconditional: zoo sample -n")
    if isinstance(plugin, Sampler):
        scheduler, steps, guidance = plugin.sampling_defaults(None, None, None)
        lines.append(f"schedulers: {', '.join(plugin.schedulers)} (default {scheduler}, {steps} steps, guidance {guidance:g})")
        lines.append(f"trajectory: {'yes (zoo sample --trajectory)' if has_trajectory(plugin) else 'no'}")
    return "\n".join(lines)


def _claim_run_dir(name: str) -> Path:
    """A fresh runs/NAME[-K], claimed by the main process and shared with the others under
    `accelerate launch`, so that every process writes into the same folder."""
    from accelerate.utils import broadcast_object_list

    from zoo import run_folders

    state = _process_state()
    chosen = [str(run_folders.claim_fresh(name)) if state.is_main_process else None]
    if state.num_processes > 1:
        broadcast_object_list(chosen)
    return Path(chosen[0])


def _process_state():
    """Accelerate's process state, made before the Trainer's Accelerator (which then shares it). The
    CPU flag is read as AcceleratorState reads it: without it, torchrun on CPUs looks like one process."""
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    return PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))


@cli.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--out", required=True, type=click.Path(),
              help="NAME.safetensors: one file. Any other path: a model folder (config.json + model.safetensors).")
@click.option("--step", type=int, help="Export this checkpoint instead of the newest.")
@click.option("--no-ema", is_flag=True, help="Export the raw weights even if the run kept an EMA.")
def export(run_dir, out, step, no_ema):
    """Write a run's inference weights + config: one .safetensors file, or a model folder.

    Either is all `zoo sample` / `zoo predict` need: plugin name and version, zoo version, config,
    image size, normalisation and labels travel in the metadata (`zoo inspect` prints them). A model
    folder has the layout Hugging Face tools expect (config.json + model.safetensors), so it can be
    uploaded to the Hub as it is; config.json may be edited (e.g. sample.steps).

    \b
    zoo export runs/dcgan --out dcgan.safetensors
    zoo export runs/ddpm_unet --out models/ddpm_unet          (model folder)
    zoo sample --weights models/ddpm_unet --grid grid.png
    """
    from zoo.models import export_run

    metadata = export_run(Path(run_dir), Path(out), _registry(), step=step, use_ema=not no_ema)
    ema = " (EMA weights)" if metadata["ema"] == "true" else ""
    kind = "" if out.endswith(".safetensors") else " (model folder: config.json + model.safetensors)"
    click.echo(f"wrote {out}{kind}: {metadata['plugin']} at step {metadata['step']}{ema}")


@cli.command()
@click.argument("name", required=False)
@click.option("--weights", required=True, help=WEIGHTS_HELP)
@click.option("-n", "--num", "n", type=int,
              help="Number of images (default 1000 with --out). Class-conditional plugins: labels 0, 1, ..., 9, 0, ...")
@click.option("--per-class", type=int, help="Class-conditional plugins: images per class, 0_001.png ... 9_100.png (default 100 with --out).")
@click.option("--labels", "label_list", metavar="3,3,7", help="Class-conditional plugins: one image per label, 3_001.png 3_002.png 7_001.png.")
@click.option("--seed", default=0, show_default=True, help="Same seed, same images.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Folder for the images (HW2 naming).")
@click.option("--grid", type=click.Path(dir_okay=False),
              help="Also (or only) save a grid PNG: the first 64 images, or for class-conditional plugins one row of 10 per class.")
@click.option("--trajectory", type=click.Path(dir_okay=False),
              help="Samplers that record it: the first image's way from noise to image (of the first --labels class, else 0), as one strip.")
@click.option("--scheduler", help="Samplers: which sampler to run, from those the plugin offers (`zoo describe NAME` lists them; "
              "ddpm_unet: ddpm, ddim, dpm, reference). Default: the file's sample.scheduler.")
@click.option("--steps", type=int, help="Samplers: sampling steps (default: the file's sample.steps).")
@click.option("--guidance", type=float, help="Samplers: classifier-free guidance weight; 0 unconditional, 1 conditional, >1 stronger (default: the file's).")
@click.option("--batch-size", default=250, show_default=True)
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available).")
def sample(name, weights, n, per_class, label_list, seed, out_dir, grid, trajectory, scheduler, steps, guidance, batch_size, device):
    """Generate images from an exported weights file (NAME is optional: the file knows its plugin).

    \b
    zoo sample dcgan --weights dcgan.safetensors -n 1000 --seed 0 --out out/
    zoo sample dcgan --weights dcgan.safetensors -n 32 --seed 0 --grid first32.png
    zoo sample cgan --weights cgan.safetensors --labels 3,3,7 --out out/        (3_001.png 3_002.png 7_001.png)
    zoo sample ddpm_unet --weights ddpm.safetensors --per-class 100 --seed 0 --out out/   (0_001.png ... 9_100.png)
    zoo sample ddpm_unet --weights ddpm.safetensors --grid grid.png --trajectory strip.png --scheduler ddpm
    zoo sample ddpm_unet --weights ddpm.safetensors --per-class 100 --out out/ --scheduler dpm --steps 25 --guidance 2
    """
    from zoo.models import load_model
    from zoo.sampling import Request, check_request, parse_labels, write_samples

    request = Request(out_dir=out_dir, grid=grid, trajectory=trajectory, n=n, per_class=per_class,
                      labels=parse_labels(label_list) if label_list is not None else None, seed=seed,
                      scheduler=scheduler, steps=steps, guidance=guidance, batch_size=batch_size)
    if batch_size < 1:
        raise ZooError(f"--batch-size must be at least 1, got {batch_size}")
    _, plugin, _ = load_model(Path(weights), _registry(), expected_plugin=name)
    check_request(plugin, request)  # every option against the plugin before the model moves to the device
    plugin.to(_device(device))
    write_samples(plugin, request, echo=click.echo)


@cli.command()
@click.argument("weights")
def inspect(weights):
    """Print what a weights file from `zoo export` holds: plugin, versions, image size, labels, config."""
    import yaml

    from zoo.config import PLUGIN_KEY
    from zoo.weights import read_model_file

    tensors, metadata, config = read_model_file(weights)
    parameters = sum(t.numel() for t in tensors.values())
    click.echo(f"{weights}: {metadata['plugin']} ({metadata.get('family', '?')}), {len(tensors)} tensors, {parameters:,} values")
    for key in ("plugin_version", "zoo_version", "step", "ema", "image_size", "normalisation", "labels"):
        if key in metadata:
            click.echo(f"  {key + ':':<15} {metadata[key]}")
    if metadata["plugin"] in (registry := _registry()):
        from zoo.weights import version_note

        installed = registry.get(metadata["plugin"]).version
        note = version_note(metadata, installed)
        click.echo(f"  {'installed:':<15} {metadata['plugin']} {installed}" + (f" - {note}" if note else " (compatible)"))
    else:
        click.echo(f"  {'installed:':<15} no '{metadata['plugin']}' plugin here (`zoo list`); install it to use this file")
    click.echo("config:")
    click.echo("  " + yaml.safe_dump({k: v for k, v in config.items() if k != PLUGIN_KEY}, sort_keys=False).replace("\n", "\n  ").rstrip())


def _load_classifier(weights: str, name: str | None = None, overrides=(), adapter: bool = False):
    """A Classifier (or, with adapter=True, an Adapter) from an exported file."""
    from zoo.interfaces import Adapter, Classifier
    from zoo.models import load_model

    spec, plugin, metadata = load_model(Path(weights), _registry(), expected_plugin=name, overrides=overrides)
    wanted, example = (Adapter, "dann") if adapter else (Classifier, "digit_classifier or dann")
    if not isinstance(plugin, wanted):
        raise ZooError(f"'{spec.name}' is a {spec.family} plugin; this command needs a {wanted.family} (e.g. {example})")
    return spec, plugin, metadata


def _device(device: str | None) -> str:
    import torch

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


@cli.command()
@click.argument("name", required=False)
@click.option("--weights", required=True, help=WEIGHTS_HELP)
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False),
              help="A folder of images, or an HW2 domain folder (its data/ is used).")
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

    spec, plugin, _ = _load_classifier(weights, name)
    images = load_image_folder(Path(data_dir), plugin.config.data.image_size)
    plugin.to(_device(device))
    labels = predictions(plugin, images)
    write_predictions(out, images.names, labels)
    click.echo(f"wrote {out}: {len(labels)} predictions for {images.source}")


@cli.group("eval")
def evaluate():
    """Measure quality: FID and face rate of generated faces, accuracy of generated digits, adaptation accuracy."""


def _write_metric(result: dict, json_out: str | None, default: Path) -> None:
    import json

    from zoo.files import write_text_atomic

    path = Path(json_out) if json_out else default
    write_text_atomic(path, json.dumps(result, indent=2) + "\n")
    click.echo(f"wrote {path}")


@evaluate.command("fid")
@click.option("--real", required=True, type=click.Path(file_okay=False), help="Folder of real images (e.g. hw2_data/face/val).")
@click.option("--fake", required=True, type=click.Path(file_okay=False), help="Folder of generated images.")
@click.option("--inception-weights", type=click.Path(dir_okay=False),
              help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth or the TorchScript network (default: "
                   "$ZOO_INCEPTION_WEIGHTS, torch's hub cache, then the one the `fid` extra installs).")
@click.option("--dims", default=2048, show_default=True, type=click.Choice(["64", "192", "768", "2048"]),
              help="Inception feature layer; 2048 is the standard FID, the others are pytorch-fid's small-sample options.")
@click.option("--batch-size", default=50, show_default=True)
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Where to write the result (default: FAKE-fid.json).")
@click.option("--device", default=None, help="cpu, cuda, ... (default: cuda if available).")
def evaluate_fid(real, fake, inception_weights, dims, batch_size, json_out, device):
    """FID and KID between two image folders, on the same Inception features (pytorch-fid's network).

    \b
    zoo eval fid --real hw2_data/face/val --fake out/
    FID is biased upward at small sample counts; KID (unbiased, mean +- std over 100 subsets) compares
    models fairly at 1000 samples. The real folder's features are cached in ~/.cache/zoo/fid.
    About 3 minutes per 1000 images on 2 CPU cores.
    """
    from zoo.metrics.fid import fid

    result = fid(real, fake, inception_weights, _device(device), batch_size, int(dims))
    cached = " (real features from cache)" if result["real_features_cached"] else ""
    click.echo(f"FID {result['fid']:.2f}, KID {result['kid'] * 1000:.2f} +- {result['kid_std'] * 1000:.2f} (x 1000): "
               f"{result['fake_count']} generated vs {result['real_count']} real images{cached}")
    _write_metric(result, json_out, Path(str(Path(fake)).rstrip("/") + "-fid.json"))


@evaluate.command("faces")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Where to write the result (default: FOLDER-faces.json).")
def evaluate_faces(folder, json_out):
    """Share of images in which a HOG face detector finds exactly one face (the HW2 face metric).

    \b
    zoo eval faces out/          needs the optional extra: pip install -e ".[faces]"
    Real 64x64 CelebA faces score about 94-95%.
    """
    from zoo.metrics.faces import face_rate

    result = face_rate(folder)
    click.echo(f"face rate {result['face_rate']:.1%}: exactly one face in {result['exactly_one_face']} of {result['count']} images")
    _write_metric(result, json_out, Path(str(Path(folder)).rstrip("/") + "-faces.json"))


@evaluate.command("digits")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--classifier", "classifier_file", required=True,
              help="The evaluator: a digit_classifier (or dann) file written by `zoo export`.")
@click.option("--real", type=click.Path(file_okay=False),
              help="Real labelled digits (HW2 layout, val.csv) to report the evaluator's own accuracy on "
                   "(default: the folder it was trained on).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Where to write the result (default: FOLDER-digits.json).")
@click.option("--device", default=None, help="cpu, cuda, ... (default: cuda if available).")
def evaluate_digits(folder, classifier_file, real, json_out, device):
    """Share of generated digits that the evaluator reads as the digit they were asked for.

    The requested digit is the first character of each file name (0_001.png ... 9_100.png, the HW2
    convention). The evaluator's accuracy on real held-out digits is reported beside it: a score
    can only be read against how well the evaluator reads real images.

    \b
    zoo run digit_classifier --set data.root=hw2_data/digits/mnistm --out runs/evaluator
    zoo export runs/evaluator --out evaluator.safetensors
    zoo eval digits out/ --classifier evaluator.safetensors
    """
    from zoo.data.digits import labelled_digits
    from zoo.metrics.accuracy import domain_accuracy
    from zoo.metrics.digits import DigitScorer

    spec, classifier, metadata = _load_classifier(classifier_file)
    classifier.to(_device(device))
    result = DigitScorer(classifier).folder_accuracy(folder)
    real_folder = real if real is not None else classifier.config.data.get("root", "")
    try:
        held_out = labelled_digits(real_folder, "val", classifier.config.data.image_size)
        real_accuracy, real_note = domain_accuracy(classifier, held_out), held_out.describe()
    except ZooError as exc:
        real_accuracy, real_note = None, f"not measured: {exc}"
    result.update(folder=str(folder), classifier=str(classifier_file), classifier_plugin=spec.name,
                  classifier_real_accuracy=real_accuracy, classifier_real_data=real_note)
    click.echo(f"accuracy {result['accuracy']:.2%} ({result['correct']}/{result['count']}); per digit: "
               + " ".join(f"{d}:{a:.0%}" for d, a in result["per_digit"].items()))
    evaluator = f"{real_accuracy:.2%} on {real_note}" if real_accuracy is not None else real_note
    click.echo(f"evaluator ({spec.name}, step {metadata.get('step', '?')}) on real held-out digits: {evaluator}")
    _write_metric(result, json_out, Path(str(Path(folder)).rstrip("/") + "-digits.json"))


@evaluate.command("adapt")
@click.option("--weights", help="An adapter's file or model folder written by `zoo export`.")
@click.option("--data-root", help="Folder holding the domain folders (default: the one the model was trained with).")
@click.option("--target", help="Domain to score (default: the model's data.target).")
@click.option("--split", default="val", show_default=True, type=click.Choice(["train", "val"]))
@click.option("--tsne", "tsne_dir", type=click.Path(file_okay=False),
              help="Also write tsne_class.png and tsne_domain.png: source and target features of --split.")
@click.option("--tsne-points", default=1000, show_default=True, help="Images per domain in the t-SNE pictures.")
@click.option("--predictions", type=click.Path(dir_okay=False), help="Score a CSV from `zoo predict` instead of --weights.")
@click.option("--labels", type=click.Path(dir_okay=False), help="With --predictions: the labelled CSV, e.g. usps/val.csv.")
@click.option("--json", "json_out", type=click.Path(dir_okay=False), help="Also write the result as JSON.")
@click.option("--device", default=None, help="cpu, cuda, ... (default: cuda if available).")
def evaluate_adapt(weights, data_root, target, split, tsne_dir, tsne_points, predictions, labels, json_out, device):
    """Accuracy of an adapter on a labelled target split (the HW2 DANN table's figure).

    \b
    zoo eval adapt --weights dann-usps.safetensors --data-root hw2_data/digits
    zoo eval adapt --weights dann-usps.safetensors --target mnist --tsne out/tsne
    zoo eval adapt --predictions pred.csv --labels hw2_data/digits/usps/val.csv
    """
    from zoo.metrics.accuracy import csv_accuracy

    if predictions or labels:
        if not (predictions and labels) or weights:
            raise ZooError("score a CSV with both --predictions and --labels (and no --weights)")
        correct, total = csv_accuracy(predictions, labels)
        result = {"accuracy": correct / total, "correct": correct, "count": total, "predictions": predictions, "labels": labels}
    elif weights:
        result = _score_adapter(weights, data_root, target, split, tsne_dir, tsne_points, _device(device))
    else:
        raise ZooError("give --weights FILE (a model to run) or --predictions CSV --labels CSV (predictions to score)")
    click.echo(f"accuracy {result['accuracy']:.2%} ({result['correct']}/{result['count']})")
    if json_out:
        _write_metric(result, json_out, Path(json_out))


def _score_adapter(weights, data_root, target, split, tsne_dir, tsne_points, device) -> dict:
    from zoo.metrics.accuracy import predictions
    from zoo.viz import adaptation_tsne

    overrides = [f"data.root={data_root}"] * bool(data_root) + [f"data.target={target}"] * bool(target)
    spec, plugin, metadata = _load_classifier(weights, None, overrides, adapter=True)
    plugin.to(device)
    domain = plugin.domain("target", split)
    correct = int((predictions(plugin, domain) == domain.labels).sum())
    click.echo(f"{spec.name} (step {metadata.get('step', '?')}) on {domain.describe()}")
    result = {
        "accuracy": correct / len(domain), "correct": correct, "count": len(domain), "plugin": spec.name,
        "weights": str(weights), "step": metadata.get("step"), "target": domain.name, "split": split, "data": domain.source,
    }
    if tsne_dir:
        paths = adaptation_tsne(plugin, plugin.domain("source", split), domain, tsne_dir, tsne_points)
        click.echo("wrote " + ", ".join(map(str, paths)))
    return result


@cli.command()
@click.argument("names", nargs=-1)
@click.option("--all", "all_plugins", is_flag=True, help="Every registered plugin, third-party ones included.")
@click.option("--data-root", type=click.Path(file_okay=False),
              help="The HW2 data folder (face/, digits/); each plugin trains on its part. Default: the embedded digits.")
@click.option("--quick", is_flag=True, help="A few dozen steps per plugin: about 3 minutes for all on 2 CPU cores.")
@click.option("--steps", type=int, help="Training steps for every model, evaluators included (default: each spec's).")
@click.option("--samples", type=int, help="Outputs per plugin for throughput and quality (default: each spec's, 1000 or 100 quick).")
@click.option("--study", is_flag=True, help="Run the one plugin's deeper study instead (dann: the HW2 table; ddpm_unet: samplers).")
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
        return _study(names[0], data_root, quick, steps, out_dir)
    if bool(names) == all_plugins:
        raise ZooError("name the plugins to benchmark, or give --all (not both)")
    from zoo.bench.suite import run_suite

    for path in run_suite(names, data_root, quick, steps, Path(out_dir), samples=samples, echo=click.echo):
        click.echo(f"wrote {path}")


def _study(name, data_root, quick, steps, out_dir):
    import importlib

    registry = _registry()
    target = registry.get(name).plugin_class.study
    if not target:
        with_study = [s.name for s in registry.specs() if not s.load_error and s.plugin_class.study]
        raise ZooError(f"'{name}' has no study (plugins with one: {', '.join(with_study)}); drop --study for its benchmark")
    module, function = target.split(":")
    runner = getattr(importlib.import_module(module), function)
    for path in runner(data_root=data_root, out_dir=Path(out_dir), quick=quick, steps=steps):
        click.echo(f"wrote {path}")


@cli.group("plugin")
def plugin_group():
    """Make your own plugin."""


@plugin_group.command("new")
@click.argument("name")
@click.option("--dir", "parent", default=".", show_default=True, type=click.Path(file_okay=False), help="Where the NAME/ folder goes.")
@click.option("--family", default="generator", show_default=True,
              type=click.Choice(["generator", "sampler", "classifier", "adapter"]),
              help="generator: a class-conditional VAE (one pass); sampler: conditional flow matching (Euler/Heun steps); "
                   "classifier: a small CNN; adapter: domain-adversarial (gradient reversal).")
def plugin_new(name, parent, family):
    """Scaffold a pip-installable plugin package in ./NAME: pyproject.toml with the `zoo.plugins`
    entry point, a small working model of the chosen family with its default config, and a contract test.

    \b
    zoo plugin new my_vae
    zoo plugin new my_flow --family sampler
    pip install -e ./my_vae && zoo list        # my_vae is listed
    python -m pytest my_vae/tests              # zoo.testing.check_plugin
    See CONTRIBUTING.md for what a plugin must do.
    """
    from zoo.scaffolding import new_plugin

    files = new_plugin(name, Path(parent), family)
    root = Path(parent) / name
    for path in files:
        click.echo(f"wrote {path}")
    click.echo(f"next: pip install -e {root} && zoo run {name} --set train.steps=200 && python -m pytest {root / 'tests'}")


def main():
    cli(prog_name="zoo")
