"""The dann plugin: gradient reversal, Ganin's schedules, the three modes' data, CLI predict/eval/benchmark."""

import json
import math
import shutil

import pytest
import torch

from conftest import zoo
from zoo.data.digits import load_domain
from zoo.data.pixels import uint8_to_model_range
from zoo.plugins.dann.model import reverse_gradient
from zoo.plugins.dann.plugin import ganin_lambda, ganin_lr_factor
from zoo.registry import Registry
from zoo.sharing.exports import load_model
from zoo.sharing.weights import load_tensors
from zoo.testing import RecordingStep
from zoo.training import checkpoints

SMALL = ("--set", "train.batch_size=16", "--set", "train.log_every=1", "--set", "train.sample_every=0")


def dann_config(root, *overrides):
    return Registry.discover().get("dann").config([], [f"data.root={root}", "train.batch_size=16", *overrides])


def train(run_dir, root, steps, *extra):
    result = zoo(
        "run", "dann", *SMALL, "--set", f"data.root={root}", "--set", f"train.steps={steps}", "--out", run_dir, *extra
    )
    assert result.exit_code == 0, result.output
    return load_tensors(checkpoints.latest(run_dir) / "modules.safetensors")[0]


def test_gradient_reversal_negates_and_scales_the_gradient():
    x = torch.randn(5, 3, requires_grad=True)
    upstream = torch.randn(5, 3)
    y = reverse_gradient(x, 0.3)
    assert torch.equal(y, x)
    y.backward(upstream)
    assert torch.allclose(x.grad, -0.3 * upstream)


def test_ganin_schedules():
    assert ganin_lambda(0.0) == 0.0
    assert ganin_lambda(0.5) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert ganin_lambda(1.0) == pytest.approx(1.0, abs=1e-4)
    assert ganin_lr_factor(0.0) == 1.0
    assert ganin_lr_factor(1.0) == pytest.approx(11**-0.75)


def test_learning_rate_follows_ganin_annealing(digit_root):
    plugin = Registry.discover().get("dann").build(dann_config(digit_root, "train.steps=100"))
    optimizers = plugin.configure_optimizers()
    scheduler = plugin.configure_lr_schedulers(optimizers)["all"]
    for _ in range(40):
        optimizers["all"].step()
        scheduler.step()
    assert optimizers["all"].param_groups[0]["lr"] == pytest.approx(1e-3 * ganin_lr_factor(0.4))


def test_each_mode_trains_on_its_own_data(digit_root):
    spec = Registry.discover().get("dann")
    datasets = {
        mode: spec.build(dann_config(digit_root, f"mode={mode}")).train_dataset()
        for mode in ("source_only", "dann", "target_only")
    }
    assert datasets["source_only"].domain.name == "mnistm"
    assert datasets["target_only"].domain.name == "usps"
    assert datasets["target_only"].domain.split == "train"
    assert set(datasets["dann"][0]) == {"image", "label", "target_image"}


def with_shuffled_target_labels(root, tmp_path):
    """A copy of the data root whose usps train labels are all wrong."""
    copy = tmp_path / "shuffled"
    shutil.copytree(root, copy)
    csv = copy / "usps" / "train.csv"
    header, *rows = csv.read_text().splitlines()
    rows = [f"{name},{(int(label) + 3) % 10}" for name, label in (r.split(",") for r in rows)]
    csv.write_text("\n".join([header, *rows]) + "\n")
    return copy


def test_target_labels_never_reach_dann_training(digit_root, tmp_path):
    # Same images, different target labels: DANN (and source-only) must train to identical weights,
    # while target-only must not (which shows the comparison would catch a leak).
    shuffled = with_shuffled_target_labels(digit_root, tmp_path)
    for mode, same in (("dann", True), ("source_only", True), ("target_only", False)):
        a = train(tmp_path / f"{mode}-a", digit_root, 3, "--set", f"mode={mode}")
        b = train(tmp_path / f"{mode}-b", shuffled, 3, "--set", f"mode={mode}")
        assert all(torch.equal(a[k], b[k]) for k in a) == same, mode


def test_dann_uses_the_target_images(digit_root, tmp_path):
    # The other side of the leak test: DANN does see target *images* (source-only does not).
    other = tmp_path / "other"
    shutil.copytree(digit_root, other)
    shutil.rmtree(other / "usps")
    shutil.copytree(digit_root / "mnistm", other / "usps")
    for mode, same in (("dann", False), ("source_only", True)):
        a = train(tmp_path / f"{mode}-a", digit_root, 2, "--set", f"mode={mode}")
        b = train(tmp_path / f"{mode}-b", other, 2, "--set", f"mode={mode}")
        assert all(torch.equal(a[k], b[k]) for k in a) == same, mode


def dann_batch(n=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return {
        "image": torch.rand(n, 3, 28, 28, generator=gen) * 2 - 1,
        "label": torch.randint(0, 10, (n,), generator=gen),
        "target_image": torch.rand(n, 3, 28, 28, generator=gen) * 2 - 1,
    }


def test_entropy_term_is_the_entropy_of_the_target_predictions(digit_root):
    plugin = (
        Registry.discover()
        .get("dann")
        .build(dann_config(digit_root, "train.steps=100", "dann.entropy=0.5", "augment.enabled=false"))
    )
    for module in plugin.modules.values():
        module.eval()  # deterministic forward passes, so the term can be recomputed here
    batch, step = dann_batch(), RecordingStep(backward=False, index=30)
    logs = plugin.training_step(batch, step)
    with torch.no_grad():
        probs = plugin.modules["classifier"](plugin.modules["features"](batch["target_image"])).softmax(1)
    entropy = -(probs * probs.log()).sum(1).mean()
    assert logs["target_entropy"].item() == pytest.approx(entropy.item(), rel=1e-4)
    expected = logs["loss_class"] + logs["loss_domain"] + 0.5 * ganin_lambda(0.3) * entropy
    assert step.losses[0].item() == pytest.approx(expected.item(), rel=1e-4)
    off = Registry.discover().get("dann").build(dann_config(digit_root, "train.steps=100", "augment.enabled=false"))
    assert "target_entropy" not in off.training_step(batch, RecordingStep(backward=False, index=30))


def test_augment_target_transforms_the_target_images_too(digit_root):
    seen = []
    for flag in ("false", "true"):
        plugin = Registry.discover().get("dann").build(dann_config(digit_root, f"dann.augment_target={flag}"))
        plugin.modules["features"].register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
        batch = dann_batch()
        plugin.training_step(batch, RecordingStep(backward=False, index=0))
        target_half = seen[-1][len(batch["image"]) :]
        assert torch.equal(target_half, batch["target_image"]) == (flag == "false"), flag


def test_run_export_predict_and_eval_through_the_cli(digit_root, tmp_path):
    run, weights = tmp_path / "run", tmp_path / "dann.safetensors"
    train(run, digit_root, 4, "--set", "train.sample_every=2")
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "target_val_acc" in r] == [2, 4]
    assert {"loss_class", "loss_domain", "lambda"} <= rows[0].keys()
    assert zoo("export", run, "--out", weights).exit_code == 0

    pred = tmp_path / "pred.csv"
    result = zoo("predict", "--weights", weights, "--data", digit_root / "usps" / "data", "--out", pred)
    assert result.exit_code == 0, result.output
    lines = pred.read_text().splitlines()
    assert lines[0] == "image_name,label" and len(lines) == 201
    name, label = lines[1].split(",")
    assert name == "00000.png" and label in set("0123456789")

    scored = zoo(
        "eval",
        "adapt",
        "--predictions",
        pred,
        "--labels",
        digit_root / "usps" / "val.csv",
        "--json",
        tmp_path / "a.json",
    )
    direct = zoo(
        "eval",
        "adapt",
        "--weights",
        weights,
        "--json",
        tmp_path / "b.json",
        "--tsne",
        tmp_path / "tsne",
        "--tsne-points",
        30,
    )
    assert scored.exit_code == 0 and direct.exit_code == 0, scored.output + direct.output
    a, b = (json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json"))
    assert a["count"] == b["count"] == 40 and a["correct"] == b["correct"]  # same model, two routes
    assert sorted(p.name for p in (tmp_path / "tsne").iterdir()) == ["tsne_class.png", "tsne_domain.png"]


def test_clear_errors(digit_root, tmp_path):
    result = zoo(
        "run", "dann", "--set", f"data.root={digit_root}", "--set", "data.target=svhn", "--out", tmp_path / "r"
    )
    assert result.exit_code == 1 and "no domain 'svhn'" in result.output and "found: mnistm, usps" in result.output
    result = zoo("run", "dann", "--set", "mode=adapt", "--out", tmp_path / "r")
    assert result.exit_code == 1 and "mode must be one of source_only, dann, target_only" in result.output
    result = zoo("eval", "adapt", "--predictions", tmp_path / "p.csv")
    assert result.exit_code == 1 and "--predictions and --labels" in result.output


def test_benchmark_writes_the_hw2_table_over_seeds_and_says_what_is_missing(digit_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = zoo("benchmark", "dann", "--study", "--data-root", digit_root, "--steps", 2, "--out", tmp_path / "results")
    assert result.exit_code == 0, result.output
    report = json.loads(next((tmp_path / "results").glob("dann-*.json")).read_text())
    cells = report["cells"]
    (runs,) = (tmp_path / "runs" / "benchmark").glob("dann-*")
    for mode, run in (("source_only", "source_only"), ("dann", "dann-usps"), ("target_only", "target_only-usps")):
        # Each seed's figure is its run's accuracy on usps/val, counted here from the saved weights'
        # own predictions; the cell is their mean and sample standard deviation.
        accuracies = []
        for seed in (0, 1, 2):
            _, adapter, _ = load_model(
                runs / f"{run}-seed{seed}" / "model.safetensors", Registry.discover(), expected_plugin="dann"
            )
            assert adapter.config.train.seed == seed
            val = load_domain(str(digit_root), "usps", "val", adapter.config.data.image_size)
            accuracies.append(
                round((adapter.predict(uint8_to_model_range(val.images)) == val.labels).sum().item() / len(val), 4)
            )
        cell = cells[mode]["usps"]
        assert [cell["seeds"][str(s)] for s in (0, 1, 2)] == accuracies and cell["count"] == len(val)
        assert cell["accuracy"] == pytest.approx(sum(accuracies) / 3, abs=1e-4)
        assert cell["std"] == pytest.approx(torch.tensor(accuracies).std().item(), abs=1e-4)
        assert cells[mode]["svhn"] == {
            "accuracy": None,
            "note": f"not available: no data (svhn not under {digit_root})",
        }
    # The USPS DANN runs take plugins/dann/usps.yaml; source-only (shared by every target) does not.
    _, usps_dann, _ = load_model(
        runs / "dann-usps-seed0" / "model.safetensors", Registry.discover(), expected_plugin="dann"
    )
    _, source_only, _ = load_model(
        runs / "source_only-seed0" / "model.safetensors", Registry.discover(), expected_plugin="dann"
    )
    assert usps_dann.config.dann.entropy > 0 and source_only.config.dann.entropy == 0
    assert report["dann"]["usps"] == usps_dann.config.dann.to_dict()
    table = next((tmp_path / "results").glob("dann-*.md")).read_text()
    assert (
        "| Adaptation (DANN) |" in table
        and "not available: no data" in table
        and "| DANN above source-only? |" in table
    )
    assert "| Adaptation (DANN), seed 2 |" in table
    assert len(list((tmp_path / "results").glob("*tsne-usps-*.png"))) == 2  # seed 0's pictures only
    # A second call reuses the finished runs instead of training again.
    again = zoo("benchmark", "dann", "--study", "--data-root", digit_root, "--steps", 2, "--out", tmp_path / "results")
    assert again.exit_code == 0 and "run folder" not in again.output  # nothing trained again
    assert json.loads(next((tmp_path / "results").glob("dann-*.json")).read_text())["cells"] == cells


def test_adaptation_verdict_weighs_the_gap_against_the_spread():
    from zoo.plugins.dann.benchmark import adapts, spread

    assert spread([0.90, 0.92, 0.94]) == {"accuracy": 0.92, "std": 0.02}
    assert spread([0.9]) == {"accuracy": 0.9, "std": None}
    source_only = {"accuracy": 0.93, "std": 0.005}
    assert adapts({"accuracy": 0.95, "std": 0.005}, source_only) == "+2.0 points: yes"
    assert adapts({"accuracy": 0.935, "std": 0.005}, source_only) == "+0.5 points: within the spread"
    assert adapts({"accuracy": 0.90, "std": 0.01}, source_only) == "-3.0 points: no"
    assert adapts({"accuracy": None}, source_only) == ""
