"""`zoo benchmark`'s quality metrics: name -> fn(plugin, images, labels, plan) -> {"value", "name", "how"}.
A BenchmarkSpec names them in `metrics`; the digit metrics score through zoo.metrics.digits."""

from __future__ import annotations

import functools
from pathlib import Path

import torch

from zoo.bench.evaluator import EVALUATOR
from zoo.bench.plan import Plan
from zoo.data.digits import labelled_digits
from zoo.errors import ZooError
from zoo.interfaces import Classifier, class_conditional
from zoo.metrics.digits import DigitScorer
from zoo.metrics.faces import enlarged_note, face_rate
from zoo.metrics.fid import fid
from zoo.registry import Registry
from zoo.sharing.exports import load_model
from zoo.viz import hw2_names, save_images


def digit_metrics(plugin) -> list[str]:
    """How a plugin is scored on digits when its spec names no metrics: class-conditional generators
    and samplers by the evaluator's accuracy on the requested digit (and the digit FD), unconditional
    generators by the digit FD, classifiers by their own held-out accuracy."""

    if class_conditional(plugin):
        return ["digit_accuracy", "digit_fd"]
    return ["held_out"] if isinstance(plugin, Classifier) else ["digit_fd"]


def _held_out(plugin, images, labels, p: Plan) -> dict:
    figures = plugin.evaluate()
    if not figures:
        return {"value": None, "how": f"{type(plugin).__name__}.evaluate() reports nothing"}
    key, value = next(iter(figures.items()))
    doc = (type(plugin).evaluate.__doc__ or "").strip().splitlines()[0]
    return {"value": value, "name": key, "how": doc, "all": figures}


def _digit_scorer(plugin, p: Plan):
    """The plan's evaluator on the plugin's device, with the real val digits of the plan's data."""

    if not p.evaluator:
        raise ZooError(f"{p.name}: a digit metric needs an evaluator")
    _, evaluator, _ = load_model(Path(p.evaluator["file"]), Registry.discover(), expected_plugin=EVALUATOR)
    return DigitScorer(evaluator.to(plugin.device), labelled_digits(p.data, "val", evaluator.config.data.image_size))


def _evaluator_note(p: Plan) -> str:
    return f"evaluator: {p.evaluator['real_accuracy']:.1%} on {p.evaluator['data']}"


def _digit_accuracy(plugin, images, labels, p: Plan) -> dict:
    accuracy = _digit_scorer(plugin, p).accuracy(images, labels)["accuracy"]
    return {
        "value": accuracy,
        "name": "accuracy",
        "how": f"share of {len(labels)} samples ({len(labels) // plugin.num_classes} per class, seed 0, "
        f"default sampler) that the evaluator reads as the requested digit; {_evaluator_note(p)}",
    }


def _digit_fd(plugin, images, labels, p: Plan) -> dict:
    scorer = _digit_scorer(plugin, p)
    return {
        "value": scorer.frechet_distance(images),
        "name": "digit FD",
        "how": f"Frechet distance between {len(images)} samples and {len(scorer.real)} real val digits in the "
        "evaluator's features (lower is better; FID with a digit classifier instead of Inception); "
        f"{_evaluator_note(p)}",
    }


@functools.cache  # face rate and FID both read the folder: written once (a tensor hashes by identity)
def _saved(images: torch.Tensor, folder: Path) -> Path:
    save_images(images, folder, hw2_names(len(images)))
    return folder


def _face_rate(plugin, images, labels, p: Plan) -> dict:
    try:
        result = face_rate(_saved(images, Path(p.run_dir) / "benchmark_samples"), progress=False)
    except ZooError as exc:
        return {"value": None, "name": "face rate", "how": f"not measured: {exc}"}
    return {
        "value": result["face_rate"],
        "name": "face rate",
        "enlarged_from": result["enlarged_from"],
        "how": f"share of {result['count']} samples in which dlib's HOG detector finds exactly one face"
        f"{enlarged_note(result)}",
    }


def _fid(plugin, images, labels, p: Plan) -> dict:
    try:
        result = fid(
            p.reference,
            _saved(images, Path(p.run_dir) / "benchmark_samples"),
            device=str(plugin.device),
            real_limit=p.reference_limit,
        )
    except ZooError as exc:
        return {"value": None, "name": "FID", "how": f"not measured: {exc}"}
    which = "training" if p.reference == p.data else "held-out"
    capped = f" (--quick: at most the first {p.reference_limit} by name)" if p.reference_limit else ""
    return {
        "value": result["fid"],
        "name": "FID",
        "kid": result["kid"],
        "how": f"{result['fake_count']} samples against {result['real_count']} {which} images of {p.reference}"
        f"{capped}; {result['backend']}",
    }


METRICS = {
    "held_out": _held_out,
    "digit_accuracy": _digit_accuracy,
    "digit_fd": _digit_fd,
    "face_rate": _face_rate,
    "fid": _fid,
}
