"""`zoo eval fid|faces|digits|adapt`: quality of generated images and of adaptation, from files."""

from __future__ import annotations

from pathlib import Path

import click

from zoo.cli import common
from zoo.errors import ZooError


@click.group("eval")
def evaluate():
    """Measure quality: FID and face rate of generated faces, accuracy of generated digits, adaptation accuracy."""


@evaluate.command("fid")
@click.option(
    "--real", required=True, type=click.Path(file_okay=False), help="Folder of real images (e.g. hw2_data/face/val)."
)
@click.option("--fake", required=True, type=click.Path(file_okay=False), help="Folder of generated images.")
@click.option(
    "--inception-weights",
    type=click.Path(dir_okay=False),
    help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth or the TorchScript network (default: "
    "$ZOO_INCEPTION_WEIGHTS, torch's hub cache, then the one the `fid` extra installs).",
)
@click.option(
    "--dims",
    default=2048,
    show_default=True,
    type=click.Choice(["64", "192", "768", "2048"]),
    help="Inception feature layer; 2048 is the standard FID, the others are pytorch-fid's small-sample options.",
)
@click.option("--batch-size", default=50, show_default=True)
@click.option(
    "--json", "json_out", type=click.Path(dir_okay=False), help="Where to write the result (default: FAKE-fid.json)."
)
@click.option("--device", default=None, help="cpu, cuda, ... (default: cuda if available).")
def evaluate_fid(real, fake, inception_weights, dims, batch_size, json_out, device):
    """FID, KID, precision, recall, density and coverage between two image folders, on the same
    Inception features (pytorch-fid's network).

    \b
    zoo eval fid --real hw2_data/face/val --fake out/
    FID is biased upward at small sample counts; KID (unbiased, mean +- std over 100 subsets) compares
    models fairly at 1000 samples. Precision (are samples realistic?) and recall (is the variety there?),
    density and coverage come from k = 5 nearest-neighbour balls; all are 0 to 1 (density may pass 1),
    higher is better, and a set against itself scores about 1. The real folder's features are cached in
    ~/.cache/zoo/fid.
    About 3 minutes per 1000 images on 2 CPU cores.
    """
    from zoo.metrics.fid import fid

    result = fid(real, fake, inception_weights, common.device(device), batch_size, int(dims))
    cached = " (real features from cache)" if result["real_features_cached"] else ""
    click.echo(
        f"FID {result['fid']:.2f}, KID {result['kid'] * 1000:.2f} +- {result['kid_std'] * 1000:.2f} (x 1000): "
        f"{result['fake_count']} generated vs {result['real_count']} real images{cached}"
    )
    if result["precision"] is None:
        click.echo(
            f"precision, recall, density, coverage: not measured, they need more than {result['nearest_k']} "
            "images in each folder"
        )
    else:
        click.echo(
            f"precision {result['precision']:.3f}, recall {result['recall']:.3f}, density {result['density']:.3f}, "
            f"coverage {result['coverage']:.3f} (k = {result['nearest_k']} nearest neighbours)"
        )
    common.write_metric(result, json_out, Path(str(Path(fake)).rstrip("/") + "-fid.json"))


@evaluate.command("faces")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False),
    help="Where to write the result (default: FOLDER-faces.json).",
)
def evaluate_faces(folder, json_out):
    """Share of images in which a HOG face detector finds exactly one face (the HW2 face metric).

    \b
    zoo eval faces out/          needs the optional extra: pip install -e ".[faces]"
    Real 64x64 CelebA faces score about 94-95%. The detector finds no face below 64x64, so smaller
    images are enlarged to 64 px first (bicubic), and the output says so. 500 real face/val images
    score 94.6% at 64x64, 0% shrunk to 32x32 as they are, and 85.2% shrunk and enlarged this way.
    """
    from zoo.metrics.faces import enlarged_note, face_rate

    result = face_rate(folder)
    click.echo(
        f"face rate {result['face_rate']:.1%}: exactly one face in {result['exactly_one_face']} of "
        f"{result['count']} images{enlarged_note(result)}"
    )
    common.write_metric(result, json_out, Path(str(Path(folder)).rstrip("/") + "-faces.json"))


@evaluate.command("digits")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option(
    "--classifier",
    "classifier_file",
    required=True,
    help="The evaluator: a digit_classifier (or dann) file written by `zoo export`.",
)
@click.option(
    "--real",
    type=click.Path(file_okay=False),
    help="Real labelled digits (HW2 layout, val.csv) to report the evaluator's own accuracy on "
    "(default: the folder it was trained on).",
)
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False),
    help="Where to write the result (default: FOLDER-digits.json).",
)
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
    from zoo.metrics.digits import score_generated_folder

    spec, classifier, metadata = common.load_classifier(classifier_file)
    classifier.to(common.device(device))
    result = score_generated_folder(classifier, folder, real)
    result.update(classifier=str(classifier_file), classifier_plugin=spec.name)
    real_accuracy, real_note = result["classifier_real_accuracy"], result["classifier_real_data"]
    click.echo(
        f"accuracy {result['accuracy']:.2%} ({result['correct']}/{result['count']}); per digit: "
        + " ".join(f"{d}:{a:.0%}" for d, a in result["per_digit"].items())
    )
    evaluator = f"{real_accuracy:.2%} on {real_note}" if real_accuracy is not None else real_note
    click.echo(f"evaluator ({spec.name}, step {metadata.get('step', '?')}) on real held-out digits: {evaluator}")
    common.write_metric(result, json_out, Path(str(Path(folder)).rstrip("/") + "-digits.json"))


@evaluate.command("adapt")
@click.option("--weights", help="An adapter's file or model folder written by `zoo export`.")
@click.option("--data-root", help="Folder holding the domain folders (default: the one the model was trained with).")
@click.option("--target", help="Domain to score (default: the model's data.target).")
@click.option("--split", default="val", show_default=True, type=click.Choice(["train", "val"]))
@click.option(
    "--tsne",
    "tsne_dir",
    type=click.Path(file_okay=False),
    help="Also write tsne_class.png and tsne_domain.png: source and target features of --split.",
)
@click.option("--tsne-points", default=1000, show_default=True, help="Images per domain in the t-SNE pictures.")
@click.option(
    "--predictions", type=click.Path(dir_okay=False), help="Score a CSV from `zoo predict` instead of --weights."
)
@click.option(
    "--labels", type=click.Path(dir_okay=False), help="With --predictions: the labelled CSV, e.g. usps/val.csv."
)
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
        result = {
            "accuracy": correct / total,
            "correct": correct,
            "count": total,
            "predictions": predictions,
            "labels": labels,
        }
    elif weights:
        result = _score_adapter(weights, data_root, target, split, tsne_dir, tsne_points, common.device(device))
    else:
        raise ZooError("give --weights FILE (a model to run) or --predictions CSV --labels CSV (predictions to score)")
    click.echo(f"accuracy {result['accuracy']:.2%} ({result['correct']}/{result['count']})")
    if json_out:
        common.write_metric(result, json_out, Path(json_out))


def _score_adapter(weights, data_root, target, split, tsne_dir, tsne_points, device) -> dict:
    from zoo.metrics.accuracy import adapter_accuracy
    from zoo.viz import adaptation_tsne

    overrides = [f"data.root={data_root}"] * bool(data_root) + [f"data.target={target}"] * bool(target)
    spec, plugin, metadata = common.load_classifier(weights, None, overrides, adapter=True)
    result = adapter_accuracy(plugin.to(device), split)
    click.echo(f"{spec.name} (step {metadata.get('step', '?')}) on {result.pop('described')}")
    result.update(plugin=spec.name, weights=str(weights), step=metadata.get("step"))
    if tsne_dir:
        paths = adaptation_tsne(
            plugin, plugin.domain("source", split), plugin.domain("target", split), tsne_dir, tsne_points
        )
        click.echo("wrote " + ", ".join(map(str, paths)))
    return result
