"""`zoo benchmark`: the spec-driven table for every family, and plugins that cannot be measured."""

import json
import os
from pathlib import Path

import pytest

from conftest import TOY_PLUGIN, face_root, write_distribution, zoo
from zoo.registry import Registry


def read_report(folder):
    (path,) = folder.glob("*.json")
    return json.loads(path.read_text()), path.with_suffix(".md").read_text()


def test_quick_benchmark_measures_a_generator_and_a_sampler(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = zoo(
        "benchmark", "dcgan", "ddpm_unet", "--quick", "--steps", 2, "--samples", 20, "--out", tmp_path / "results"
    )
    assert result.exit_code == 0, result.output
    report, table = read_report(tmp_path / "results")
    rows = {r["plugin"]: r for r in report["plugins"]}
    for name, row in rows.items():
        assert row["status"] == "ok", row
        for key in (
            "train_images_per_s",
            "engine_vs_plain",
            "sample_images_per_s",
            "peak_rss_mib",
            "train_flop_per_image",
            "train_flop_per_s",
            "mfu",
        ):
            assert row[key] > 0, (name, key)
        # MFU is the achieved rate over the ceiling measured in the same process.
        assert row["mfu"] == round(row["train_flop_per_s"] / row["ceiling"]["flop_per_s"], 3)
        assert (
            row["ceiling"]["probe"] in row["ceiling"]["probes"]
            and row["ceiling"]["flop_per_s"] >= max(row["ceiling"]["probes"].values()) - 1
        )
        assert (tmp_path / "results" / f"{report['suite']}-{name}.png").is_file()
        assert f"| {name} |" in table
    # A generator: one network pass per image. The sampler: quick spec = DPM-Solver, 10 steps, guidance 2
    # (both branches in one batch), so 20 rows per image through the UNet.
    assert rows["dcgan"]["network_evals_per_image"] == 1
    assert rows["ddpm_unet"]["network_evals_per_image"] == 20
    assert set(rows["dcgan"]["quality"]) == {"digit_fd"} and rows["dcgan"]["quality"]["digit_fd"]["value"] >= 0
    accuracy = rows["ddpm_unet"]["quality"]["digit_accuracy"]
    assert 0 <= accuracy["value"] <= 1 and "evaluator" in accuracy["how"]
    # The evaluator's own accuracy is reported: recounted here from its weights on the held-out embedded digits.
    from zoo.data.digits import labelled_digits
    from zoo.sharing.exports import load_model

    evaluator_info = report["evaluators"][""]
    _, evaluator, _ = load_model(Path(evaluator_info["file"]), Registry.discover(), expected_plugin="digit_classifier")
    held_out = labelled_digits("", "val", evaluator.config.data.image_size)
    read = evaluator.predict(held_out.images.float() / 127.5 - 1)
    assert evaluator_info["real_accuracy"] == (read == held_out.labels).float().mean().item()
    # Finished runs are reused: a second call trains nothing and reports the same training figures.
    (run_dir,) = (tmp_path / "runs" / "benchmark").glob("*/dcgan-2steps-embedded-*")

    # What the benchmark measured lies beside the run too, for the model card `zoo export` writes.
    scores = json.loads((run_dir / "scores.json").read_text())
    assert scores["quality"] == rows["dcgan"]["quality"] and scores["samples"] == 20

    def written():  # scores.json is rewritten by every scoring, by design
        return {
            str(path.relative_to(run_dir)): path.stat().st_mtime_ns
            for path in run_dir.rglob("*")
            if path.is_file() and path.name != "scores.json"
        }

    trained = written()
    again = zoo("benchmark", "dcgan", "--quick", "--steps", 2, "--samples", 20, "--out", tmp_path / "again")
    assert again.exit_code == 0, again.output
    # Nothing in the run folder was trained or written again (the worker's own messages go to its stderr).
    assert written() == trained
    assert read_report(tmp_path / "again")[0]["plugins"][0]["train_images_per_s"] == rows["dcgan"]["train_images_per_s"]


BROKEN_AND_BARE = {
    **TOY_PLUGIN,
    "toy_gan/bare.py": '''
        from toy_gan import ToyGAN

        class BareGAN(ToyGAN):
            """A GAN that declares no benchmark."""
            benchmark = None
    ''',
    "toy_gan/failing.py": '''
        from toy_gan import ToyGAN

        class FailingGAN(ToyGAN):
            """A GAN whose training step fails."""
            def training_step(self, batch, step):
                raise RuntimeError("the discriminator exploded")
    ''',
}


def test_unmeasurable_plugins_are_listed_and_the_others_go_on(tmp_path, monkeypatch):
    entry_points = {
        "bare": "toy_gan.bare:BareGAN",
        "failing": "toy_gan.failing:FailingGAN",
        "broken": "broken_plugin:Anything",
    }
    write_distribution(tmp_path, "zoo-odd", entry_points, BROKEN_AND_BARE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # the benchmark's worker processes see the package too
    monkeypatch.chdir(tmp_path)
    result = zoo("benchmark", "bare", "broken", "failing", "--quick", "--steps", 2, "--out", tmp_path / "results")
    assert result.exit_code == 0, result.output
    report, table = read_report(tmp_path / "results")
    rows = {r["plugin"]: r for r in report["plugins"]}
    assert rows["bare"]["status"] == "no benchmark spec"
    assert rows["broken"]["status"] == "failed to load" and "a_module_that_does_not_exist" in rows["broken"]["error"]
    assert rows["failing"]["status"] == "failed" and "the discriminator exploded" in rows["failing"]["error"]
    assert "| bare | generator | no benchmark spec |" in table
    assert "the discriminator exploded" in table


@pytest.mark.parametrize(
    "args, message",
    [
        ((), "name the plugins to benchmark, or give --all"),
        (("dcgan", "--all"), "not both"),
        (("dcgan", "sagan", "--study"), "--study runs one plugin's study"),
        (("dcgan", "--study"), "'dcgan' has no study"),
        (("dcgan", "--steps", 0), "--steps must be at least 1"),
        (("dcgan", "--samples", 0), "--samples must be at least 1"),
        (("nope",), "unknown plugin 'nope'"),
    ],
)
def test_benchmark_refuses_unclear_requests(args, message):
    result = zoo("benchmark", *args)
    assert result.exit_code != 0 and message in result.output, result.output


def test_step_flops_count_every_pass_of_a_whole_step():
    import torch

    from zoo.bench.plain_loop import training_step_flops

    spec = Registry.discover().get("dcgan")
    tiny = ["data.image_size=16", "model.base_channels=8", "train.sample_every=0"]
    per_batch = {
        b: training_step_flops(spec, spec.config([], [*tiny, f"train.batch_size={b}"]), torch.device("cpu"))
        for b in (8, 16)
    }
    assert per_batch[16] == 2 * per_batch[8] > 0  # the same network, twice the images
    # WGAN-GP's generator steps once per 5 critic steps: the average counts that cycle whole.
    wgan = Registry.discover().get("wgan_gp")
    critic_only = training_step_flops(
        wgan, wgan.config([], [*tiny, "train.batch_size=8", "gan.n_critic=1000"]), torch.device("cpu")
    )
    cycle = training_step_flops(
        wgan, wgan.config([], [*tiny, "train.batch_size=8", "gan.n_critic=5"]), torch.device("cpu")
    )
    assert cycle > critic_only


def test_a_run_that_stopped_early_is_never_scored(tmp_path):
    from zoo.bench.common import trained_model
    from zoo.errors import ZooError

    tiny = [
        "data.image_size=16",
        "model.base_channels=8",
        "train.batch_size=8",
        "train.steps=500",
        "train.sample_every=0",
    ]
    with pytest.raises(ZooError, match="stopped at step .* of 500.*run the benchmark again"):
        trained_model("dcgan", tmp_path / "run", [*tiny, "train.time_limit_min=0.00001"])


def test_a_benchmark_never_scores_a_run_trained_on_other_data(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = face_root(tmp_path / "data", train=64)
    common = ["benchmark", "dcgan", "--quick", "--steps", 2, "--samples", 4]
    assert zoo(*common, "--out", tmp_path / "digits").exit_code == 0
    faces = zoo(*common, "--data-root", root, "--out", tmp_path / "faces")
    assert faces.exit_code == 0, faces.output
    (embedded,) = (tmp_path / "runs" / "benchmark").glob("*/dcgan-2steps-embedded-*")
    (on_faces,) = (tmp_path / "runs" / "benchmark").glob("*/dcgan-2steps-face-train-*")
    from zoo.config import read_yaml

    assert read_yaml(embedded / "config.yaml")["data"]["root"] == ""
    assert read_yaml(on_faces / "config.yaml")["data"]["root"] == str((root / "face" / "train").resolve())
    (row,) = read_report(tmp_path / "faces")[0]["plugins"]
    assert row["status"] == "ok", row
    assert row["data"] == str((root / "face" / "train").resolve())  # read from the run's own config.yaml
    # FID against the held-out split, never against the images the model trained on.
    how = row["quality"]["fid"]["how"]
    assert (
        f"4 samples against 8 held-out images of {(root / 'face' / 'val').resolve()} (--quick: at most the first 500"
        in how
    )


TINY_DCGAN = [
    "data.image_size=16",
    "model.base_channels=8",
    "train.batch_size=8",
    "train.steps=2",
    "train.sample_every=0",
]


def test_a_run_folder_with_another_config_is_refused(tmp_path):
    from zoo.bench.common import trained_model
    from zoo.errors import ZooError

    tiny = TINY_DCGAN
    trained_model("dcgan", tmp_path / "run", tiny)
    trained_model(
        "dcgan", tmp_path / "run", [*tiny, "train.log_every=1", "train.steps=3"]
    )  # bookkeeping and length only
    with pytest.raises(ZooError, match=r"holds a run with another config \(model.latent_dim: 32 there, 64 asked for\)"):
        trained_model("dcgan", tmp_path / "run", [*tiny, "model.latent_dim=64"])


def test_a_named_run_folder_on_an_older_drawing_of_the_embedded_digits_is_refused(tmp_path, monkeypatch):
    import zoo.bench.common as common
    from zoo.errors import ZooError

    tiny = TINY_DCGAN
    common.trained_model("dcgan", tmp_path / "run", tiny)
    common.trained_model("dcgan", tmp_path / "run", tiny)  # the same drawing: reused
    drawn = common.EMBEDDED_VERSION
    monkeypatch.setattr(common, "EMBEDDED_VERSION", "a later drawing")
    with pytest.raises(ZooError, match=rf"holds a run on drawing {drawn} of the embedded digits, and this zoo draws"):
        common.trained_model("dcgan", tmp_path / "run", tiny)
    (tmp_path / "run" / common.folders.DRAWING).unlink()  # a run from before the drawing was recorded
    with pytest.raises(ZooError, match=r"on an unrecorded drawing of the embedded digits"):
        common.trained_model("dcgan", tmp_path / "run", tiny)


def test_gan_faces_time_to_quality_on_a_tiny_fixture(tmp_path):
    """benchmarks/gan_faces.py trains in timed segments, scores each (face rate, FID, KID) with training
    stopped, writes table + curve, and a second call extends the curve instead of starting again."""
    import subprocess
    import sys

    face_root(tmp_path, train=64)  # one batch of the speed reference (dcgan faces-cpu, batch 64)
    script = Path(__file__).resolve().parent.parent / "benchmarks" / "gan_faces.py"
    common = [
        sys.executable,
        script,
        "--data-root",
        tmp_path / "face",
        "--plugins",
        "dcgan",
        "--score-every",
        "0.02",
        "--set",
        "data.image_size=16",
        "--set",
        "model.base_channels=8",
        "--set",
        "train.batch_size=8",
        "--set",
        "train.log_every=1",  # a 1.2 s segment on a busy machine may not reach 25 steps
        "--samples",
        "6",
        "--fid-dims",
        "64",
        "--reference-steps",
        "2",
        "--work",
        tmp_path / "work",
        "--out",
        tmp_path / "results",
    ]
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    first = subprocess.run([*map(str, common), "--minutes", "0.02"], capture_output=True, text=True, env=env)
    assert first.returncode == 0, first.stderr[-2000:]
    again = subprocess.run([*map(str, common), "--minutes", "0.04"], capture_output=True, text=True, env=env)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("$ zoo run") == 1 and "--resume" in again.stdout  # only the new segment trained
    report = json.loads(next((tmp_path / "results").glob("gan-faces-*.json")).read_text())
    points = report["models"]["dcgan"]["points"]
    # Budgets are scaled minutes: each segment trains the wall minutes that today's speed needs to reach them.
    assert [p["scaled_minutes"] for p in points] == [0.02, 0.04] and points[0]["step"] < points[1]["step"]
    reference = report["speed_reference"]
    assert reference["recipe"] == "dcgan faces-cpu" and reference["scale"] == round(reference["images_per_s"] / 125, 3)
    first_scale = json.loads(first_reference(first.stdout))["scale"]
    assert points[0]["minutes"] == round(round(0.02 / first_scale, 4), 2)
    for point in points:
        assert point["score_wall_s"] > 0 and point["train_wall_s"] > 0 and 0 <= point["data_share"] < 1
        assert point["flop_per_image"] > 0 and 0 < point["mfu"] < 5
        # The README's install (the faces and fid extras) measures all three.
        assert (
            point["face_rate"] is not None and point["fid"] > 0 and point["kid"] is not None and point["kid_std"] >= 0
        )
        assert 0 <= point["precision"] <= 1 and 0 <= point["recall"] <= 1 and 0 <= point["coverage"] <= 1
    assert {p.suffix for p in (tmp_path / "results").iterdir()} == {".json", ".md", ".png"}
    table = next((tmp_path / "results").glob("gan-faces-*.md")).read_text()
    assert (
        f"| dcgan | faces-cpu | {points[1]['minutes']:g} | 0.04 |" in table
        and f"x{reference['scale']:g} of 125" in table
    )


def first_reference(stdout: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith("speed reference: ")).split(": ", 1)[1]


def load_gan_faces(monkeypatch):
    import importlib.util

    script = Path(__file__).resolve().parent.parent / "benchmarks" / "gan_faces.py"
    monkeypatch.syspath_prepend(str(script.parent))  # as when run as a script: its sibling report module
    spec = importlib.util.spec_from_file_location("gan_faces", script)
    gan_faces = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gan_faces)
    return gan_faces


def test_the_speed_reference_keeps_the_recipe_of_2026_11_23_whatever_faces_cpu_ships(monkeypatch):
    gan_faces = load_gan_faces(monkeypatch)
    config = gan_faces.reference_config(Registry.discover().get("dcgan"), Path("face"))
    assert dict(config.gan) == {
        "loss": "bce",
        "n_critic": 1,
        "diffaugment": "",
        "r1": 0.0,
        "r2": 0.0,
        "penalty_every": 1,
    }
    assert dict(config.optim) == {"lr_g": 0.0002, "lr_d": 0.0002, "betas": [0.5, 0.999], "lr_decay_from": 1.0}
    assert (config.model.base_channels, config.train.batch_size, config.data.image_size) == (32, 64, 64)
    assert not config.train.channels_last and not config.train.compile


def test_gan_faces_scores_a_segment_trained_by_a_stopped_call_instead_of_training_it_again(tmp_path, monkeypatch):
    gan_faces = load_gan_faces(monkeypatch)
    for split in ("train", "val"):
        (tmp_path / "face" / split).mkdir(parents=True)
    trained, scored = [], []

    def score(*args):
        scored.append(len(trained))
        if len(scored) == 1:
            raise KeyboardInterrupt  # the user stops the study while it scores its first segment
        return {"fid": 50.0}

    monkeypatch.setattr(gan_faces, "speed_reference", lambda *a: {"scale": 2.0, "ceiling": {"flop_per_s": 1e9}})
    monkeypatch.setattr(gan_faces, "train_segment", lambda *a: trained.append(a[4]) or 30.0)
    monkeypatch.setattr(gan_faces, "score", score)
    monkeypatch.setattr(gan_faces, "step_figures", lambda run: {})
    monkeypatch.setattr(gan_faces, "flop_per_image", lambda *a: 1e6)
    monkeypatch.setattr(gan_faces, "real_reference", lambda *a: {})
    monkeypatch.setattr(gan_faces, "write_results", lambda *a: [])
    argv = ["--data-root", str(tmp_path / "face"), "--plugins", "dcgan", "--minutes", "30", "--work", str(tmp_path)]
    with pytest.raises(KeyboardInterrupt):
        gan_faces.main(argv)
    gan_faces.main(argv)
    assert trained == [7.5, 7.5]  # two segments of 15 scaled minutes at x2, each trained once
    points = json.loads((tmp_path / "points.json").read_text())["dcgan"]["points"]
    assert [(p["scaled_minutes"], p["minutes"], p["fid"]) for p in points] == [(15.0, 7.5, 50.0), (30.0, 15.0, 50.0)]


def test_gan_faces_scores_a_segment_that_logged_nothing(tmp_path, monkeypatch):
    """A segment shorter than one log interval leaves no metrics.jsonl: its point has no speed figures
    instead of the benchmark dying after training and scoring it."""
    gan_faces = load_gan_faces(monkeypatch)
    assert gan_faces.step_figures(tmp_path) == {}
    (tmp_path / "metrics.jsonl").write_text('{"step": 25, "images_per_s": 10.0, "data_share": 0.5}\n{"step": 50}\n')
    assert gan_faces.step_figures(tmp_path) == {"images_per_s": 10.0, "data_share": 0.5}


def test_a_cached_run_on_an_older_drawing_of_the_embedded_digits_is_not_reused(monkeypatch):
    import zoo.bench.common as common

    def folders() -> tuple[Path, Path]:
        return tuple(
            common.keyed_folder(Path("runs"), "dcgan", {"data": {"root": root}}, "1") for root in ("", "hw2/face/train")
        )

    embedded, on_faces = folders()
    monkeypatch.setattr(common, "EMBEDDED_VERSION", "a later drawing")
    assert folders()[0] != embedded  # the embedded data changed: a new run
    assert folders()[1] == on_faces  # files on disk: their own path is their key
