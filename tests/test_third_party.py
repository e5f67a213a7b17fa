"""Third-party plugins as users meet them: pip-installed into a fresh virtualenv, then seen by
`zoo list`, trained by `zoo run`, measured by `zoo benchmark`, checked by their own tests.

The fresh virtualenv (tests/virtualenvs.py) sees zoo and its dependencies; the plugin is installed
into it alone, so this environment never sees it and discovery through the entry point is what is tested.
"""

import json
import subprocess
from pathlib import Path

import pytest

from virtualenvs import fresh_venv, pip_install, run
from zoo.registry import Registry

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def lsgan_env(tmp_path_factory):
    where = tmp_path_factory.mktemp("lsgan")
    python = fresh_venv(where / "venv")
    pip_install(python, ROOT / "examples" / "lsgan", where)
    return python, where


def test_example_is_listed_trained_and_benchmarked_like_a_builtin(lsgan_env):
    python, where = lsgan_env
    assert "lsgan" not in Registry.discover()  # only the fresh environment has it
    listing = run(python, "-m", "zoo", "list", cwd=where)
    assert any(line.split()[:3] == ["lsgan", "generator", "zoo-lsgan"] for line in listing.splitlines()), listing

    run(
        python,
        "-m",
        "zoo",
        "run",
        "lsgan",
        "--set",
        "train.steps=3",
        "--set",
        "train.batch_size=8",
        "--set",
        "model.width=8",
        "--out",
        where / "run",
        cwd=where,
    )
    assert (where / "run" / "checkpoints" / "step_000003").is_dir()

    out = run(python, "-m", "zoo", "benchmark", "lsgan", "--quick", "--steps", 2, "--out", where / "results", cwd=where)
    report = json.loads(next((where / "results").glob("*.json")).read_text())
    (row,) = report["plugins"]
    assert row["plugin"] == "lsgan" and row["status"] == "ok", out
    digit_fd = row["quality"]["digit_fd"]
    # Measured against the held-out embedded digits (the evaluator has had 2 steps too, so the value is small).
    assert row["source"] == "zoo-lsgan 0.1.0" and digit_fd["value"] > 0 and "360 real val digits" in digit_fd["how"]


def test_example_passes_its_own_contract_test(lsgan_env):
    python, where = lsgan_env
    out = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", ROOT / "examples" / "lsgan" / "tests", cwd=where)
    assert "2 passed" in out


FAMILIES = ("generator", "gan", "sampler", "classifier", "adapter")  # what `zoo plugin new --family` takes
LISTED_AS = {"gan": "generator"}  # the interface a scaffold implements, where its name is not one


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory):
    """One plugin of each family from `zoo plugin new --family`, installed together into a fresh virtualenv."""
    from conftest import zoo

    where = tmp_path_factory.mktemp("scaffolds")
    python = fresh_venv(where / "venv")
    for family in FAMILIES:
        result = zoo("plugin", "new", f"my_{family}", "--family", family, "--dir", where)
        assert result.exit_code == 0, result.output
        pip_install(python, where / f"my_{family}", where)
    return python, where


@pytest.mark.parametrize("family", FAMILIES)
def test_scaffold_of_each_family_passes_its_own_contract_test(scaffolded, family):
    python, where = scaffolded
    listing = run(python, "-m", "zoo", "list", cwd=where)
    assert any(line.split()[:2] == [f"my_{family}", LISTED_AS.get(family, family)] for line in listing.splitlines()), (
        listing
    )
    out = run(python, "-m", "pytest", "-q", "-p", "no:cacheprovider", where / f"my_{family}" / "tests", cwd=where)
    assert "1 passed" in out


@pytest.mark.parametrize("family", ["generator", "sampler"])
def test_conditional_scaffolds_go_through_every_sampling_path(scaffolded, family):
    """The class-conditional VAE (a Generator) and the flow-matching Sampler, as their users meet them."""
    python, where = scaffolded
    name, work = f"my_{family}", where / family
    run(
        python,
        "-m",
        "zoo",
        "run",
        name,
        "--set",
        "train.steps=2",
        "--set",
        "train.batch_size=8",
        "--set",
        "train.sample_every=0",
        "--out",
        work / "run",
        cwd=where,
    )
    run(python, "-m", "zoo", "export", work / "run", "--out", work / "w.safetensors", cwd=where)
    shown = run(python, "-m", "zoo", "describe", name, cwd=where)
    assert "class-conditional: labels 0-9" in shown

    def sample(*flags):
        return run(python, "-m", "zoo", "sample", "--weights", work / "w.safetensors", *flags, cwd=where)

    sample("--labels", "3,3,7", "--out", work / "labels", "--grid", work / "grid.png")
    assert sorted(p.name for p in (work / "labels").iterdir()) == ["3_001.png", "3_002.png", "7_001.png"]
    sample("-n", 12, "--out", work / "n")
    assert len(list((work / "n").iterdir())) == 12 and (work / "n" / "1_002.png").is_file()
    sample("--per-class", 2, "--out", work / "per_class")
    assert len(list((work / "per_class").iterdir())) == 20
    # The same (seed, label, rank), the same image, whichever flag asked for it.
    assert (work / "labels" / "3_002.png").read_bytes() == (work / "per_class" / "3_002.png").read_bytes()
    if family == "sampler":
        sample("--trajectory", work / "strip.png", "--scheduler", "heun", "--steps", 3)
        assert (work / "strip.png").is_file()
    else:
        done = subprocess.run(
            [
                str(python),
                "-m",
                "zoo",
                "sample",
                "--weights",
                work / "w.safetensors",
                "--trajectory",
                work / "strip.png",
            ],
            cwd=where,
            capture_output=True,
            text=True,
        )
        assert done.returncode == 1 and "one pass" in done.stderr and "Traceback" not in done.stderr

    run(
        python,
        "-m",
        "zoo",
        "benchmark",
        name,
        "--quick",
        "--steps",
        2,
        "--samples",
        20,
        "--out",
        work / "results",
        cwd=where,
    )
    (row,) = json.loads(next((work / "results").glob("*.json")).read_text())["plugins"]
    assert row["status"] == "ok", row
    assert set(row["quality"]) == {"digit_accuracy", "digit_fd"}  # scored on the requested digit


def test_scaffold_refuses_bad_or_taken_names(tmp_path):
    from conftest import zoo

    assert "lowercase Python identifiers" in zoo("plugin", "new", "My-VAE", "--dir", tmp_path).output
    assert "already exists" in zoo("plugin", "new", "dcgan", "--dir", tmp_path).output
    (tmp_path / "taken").mkdir()
    assert "already exists" in zoo("plugin", "new", "taken", "--dir", tmp_path).output


def test_the_gan_scaffold_logs_its_penalty_and_is_benchmarked_on_faces(scaffolded):
    """The GAN author's path: the scaffold's R1 penalty is logged beside loss_d, it exports and samples, and
    `zoo benchmark --quick --data-root` measures it on faces (its own faces.yaml is shipped)."""
    from conftest import face_root

    python, where = scaffolded
    work = where / "gan"
    run(
        python,
        "-m",
        "zoo",
        "run",
        "my_gan",
        "--set",
        "train.steps=2",
        "--set",
        "train.batch_size=8",
        "--set",
        "train.log_every=1",
        "--set",
        "train.sample_every=0",
        "--out",
        work / "run",
        cwd=where,
    )
    rows = [json.loads(line) for line in (work / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(row["r1"] > 0 and row["loss_d"] > 0 for row in rows), rows
    run(python, "-m", "zoo", "export", work / "run", "--out", work / "w.safetensors", cwd=where)
    run(
        python,
        "-m",
        "zoo",
        "sample",
        "--weights",
        work / "w.safetensors",
        "-n",
        3,
        "--out",
        work / "samples",
        cwd=where,
    )
    assert len(list((work / "samples").iterdir())) == 3
    assert "configs (--config NAME): default, faces" in run(python, "-m", "zoo", "describe", "my_gan", cwd=where)
    # On faces, with the scaffold's own faces.yaml (the embedded digits' benchmark path is lsgan's test above).
    root = face_root(work / "data", train=64)  # one quick batch
    run(
        python,
        "-m",
        "zoo",
        "benchmark",
        "my_gan",
        "--quick",
        "--steps",
        2,
        "--samples",
        4,
        "--data-root",
        root,
        "--out",
        work / "results",
        cwd=where,
    )
    (row,) = json.loads(next((work / "results").glob("*.json")).read_text())["plugins"]
    assert row["status"] == "ok" and row["data"].endswith("face/train"), row
    assert row["quality"]["face_rate"]["value"] is not None and row["quality"]["fid"]["value"] > 0
