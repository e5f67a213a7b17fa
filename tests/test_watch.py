"""Watching and sharing runs: TensorBoard through Accelerate, `zoo plot`, model cards, `zoo runs`."""

import fcntl
import json
import os

import pytest
import torch
import yaml

from conftest import TINY, train_tiny, zoo
from zoo.errors import ConfigError
from zoo.runs import folders
from zoo.training import tracking
from zoo.training.run_log import read_metrics


def one_line_error(result):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.output.strip()


# --- trackers ------------------------------------------------------------------------------------------


def test_tensorboard_receives_what_metrics_jsonl_receives_and_the_preview_grids(tmp_path):
    from PIL import Image
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer

    run = tmp_path / "runs" / "dcgan"
    train_tiny(
        run, 4, "--set", "train.log_with=tensorboard", "--set", "train.log_every=2", "--set", "train.sample_every=2"
    )
    events = EventAccumulator(str(run / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    logged = read_metrics(run)
    for key in ("loss_d", "loss_g", "images_per_s"):
        board = {e.step: e.value for e in events.Scalars(key)}
        assert board == pytest.approx({row["step"]: row[key] for row in logged if key in row}, rel=1e-6), key
    grids = events.Images("samples")
    assert [g.step for g in grids] == [2, 4]
    assert (grids[-1].width, grids[-1].height) == Image.open(run / "samples" / "step_000004.png").size
    # `tensorboard --logdir runs/` finds the run by its folder name.
    assert "plugin: dcgan" in events.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    board = EventMultiplexer().AddRunsFromDirectory(str(tmp_path / "runs"))
    board.Reload()
    assert list(board.Runs()) == ["dcgan/tensorboard"]


def test_log_with_names_what_is_missing_in_one_line(tmp_path, monkeypatch):
    line = one_line_error(zoo("run", "dcgan", *TINY, "--set", "train.log_with=comet", "--out", tmp_path / "a"))
    assert "train.log_with must be one of none | tensorboard | wandb | mlflow | aim | all, got 'comet'" in line

    monkeypatch.setattr(tracking, "installed", lambda name: name == "tensorboard")
    line = one_line_error(zoo("run", "dcgan", *TINY, "--set", "train.log_with=wandb", "--out", tmp_path / "b"))
    assert "train.log_with=wandb needs the wandb package: pip install wandb" in line
    assert not (tmp_path / "b" / "checkpoints").exists()


def test_a_tracker_that_needs_a_server_says_so_when_there_is_no_network(monkeypatch):
    monkeypatch.setattr(tracking, "installed", lambda name: name in ("tensorboard", "wandb"))
    monkeypatch.setattr(tracking, "reachable", lambda host, port: False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    with pytest.raises(ConfigError, match="needs a network connection to api.wandb.ai.*WANDB_MODE=offline"):
        tracking.chosen("wandb")
    with pytest.warns(UserWarning, match="logging without it"):
        assert tracking.chosen("all") == ["tensorboard"]
    monkeypatch.setenv("WANDB_MODE", "offline")  # logs locally: no server needed
    assert tracking.chosen("wandb") == ["wandb"]


# --- zoo plot ------------------------------------------------------------------------------------------


def test_plot_overlays_runs_against_steps_and_wall_time(tmp_path):
    from zoo.runs.plots import plot

    first, second = tmp_path / "first", tmp_path / "second"
    train_tiny(first, 4)
    train_tiny(second, 3, "--set", "train.seed=1")
    result = zoo("plot", first, second, "--metric", "loss_d", "--out", tmp_path / "curves.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "curves.png").read_bytes().startswith(b"\x89PNG")

    by_step, by_time = plot([first, second], ["loss_d"], tmp_path / "again.png").axes
    for ax, axis in ((by_step, "step"), (by_time, "elapsed_s")):
        lines = {line.get_label(): line for line in ax.get_lines()}
        assert set(lines) == {str(first), str(second)}
        for run in (first, second):
            rows = read_metrics(run)
            x = [row[axis] / 60 if axis == "elapsed_s" else row[axis] for row in rows]
            assert list(lines[str(run)].get_xdata()) == pytest.approx(x)
            assert list(lines[str(run)].get_ydata()) == [row["loss_d"] for row in rows]


def test_plot_names_the_metrics_that_exist(tmp_path):
    run = tmp_path / "run"
    train_tiny(run, 2)
    line = one_line_error(zoo("plot", run, "--metric", "fid", "--out", tmp_path / "p.png"))
    assert "no run logged fid; metrics there: loss_d, loss_g" in line and "images_per_s" in line
    line = one_line_error(zoo("plot", tmp_path, "--out", tmp_path / "p.png"))
    assert "has no metrics.jsonl" in line


# --- model cards ---------------------------------------------------------------------------------------


def card_parts(folder):
    text = (folder / "README.md").read_text()
    assert text.startswith("---\n")
    _, header, body = text.split("---\n", 2)
    return yaml.safe_load(header), body


def test_export_writes_a_hugging_face_model_card_with_the_runs_facts(tmp_path):
    run, model = tmp_path / "run", tmp_path / "model"
    train_tiny(run, 4, "--set", "train.sample_every=2")
    # What `zoo benchmark` leaves beside a run it scored (tests/test_benchmark.py checks that it does).
    quality = {"digit_fd": {"value": 12.5, "name": "digit FD", "how": "100 samples against 360 real val digits"}}
    (run / "scores.json").write_text(
        json.dumps({"date": "2026-11-24", "device": "cpu (x86_64, 2 threads)", "quality": quality})
    )
    result = zoo("export", run, "--out", model)
    assert result.exit_code == 0, result.output
    assert "README.md model card" in result.output

    header, body = card_parts(model)
    assert header == {
        "library_name": "zoo",
        "tags": ["zoo", "dcgan", "generator"],
        "datasets": ["scikit-learn digits (embedded)"],
        "metrics": ["digit_fd"],
        "pipeline_tag": "unconditional-image-generation",
    }
    status = json.loads((run / "status.json").read_text())
    assert "- Steps: 4 of 4 planned, batch 8 x 1 (grad accumulation) x 1 process(es), seed 0" in body
    threads = torch.get_num_threads()  # the card says how many CPU threads the wall time was measured on
    assert (
        f"- Wall time: {status['elapsed_s'] / 60:.1f} min of training on cpu ({threads} threads); the run ended as: "
        "finished." in body
    )
    assert "| digit FD | 12.5 | 100 samples against 360 real val digits |" in body
    assert "zoo sample --weights ./model -n 1000 --seed 0 --out samples/" in body
    assert (model / "samples.png").read_bytes() == (run / "samples" / "step_000004.png").read_bytes()
    assert "![samples](samples.png)" in body and "preview at step 4" in body

    shown = zoo("inspect", model)
    assert shown.exit_code == 0, shown.output
    assert (model / "README.md").read_text() in shown.output

    # A run nothing has scored says so instead of showing an empty table.
    (run / "scores.json").unlink()
    zoo("export", run, "--out", tmp_path / "unscored")
    _, body = card_parts(tmp_path / "unscored")
    assert "Nothing has scored these weights yet. `zoo benchmark dcgan`" in body


def test_a_class_conditional_model_card_has_no_unconditional_pipeline_tag(tmp_path):
    run = tmp_path / "run"
    result = zoo(
        "run",
        "cgan",
        "--set",
        "train.steps=2",
        "--set",
        "train.batch_size=8",
        "--set",
        "model.width=8",
        "--set",
        "train.log_every=1",
        "--out",
        run,
    )
    assert result.exit_code == 0, result.output
    zoo("export", run, "--out", tmp_path / "model")
    header, body = card_parts(tmp_path / "model")
    assert "class-conditional" in header["tags"] and "pipeline_tag" not in header
    assert "--per-class 100" in body and "labels 0,1,2,3,4,5,6,7,8,9" in body


# --- zoo runs ------------------------------------------------------------------------------------------


def test_runs_lists_every_state_newest_first(tmp_path):
    root = tmp_path / "runs"
    train_tiny(root / "finished", 3)
    train_tiny(root / "stopped", 50, "--set", "train.time_limit_min=0.000001")
    nan = ("--set", "optim.lr_g=1e30", "--set", "optim.lr_d=1e30", "--set", "train.checkpoint_every=2")
    zoo("run", "dcgan", *TINY, "--set", "train.steps=40", "--out", root / "nonfinite", *nan)
    train_tiny(root / "killed", 2)
    # What a run killed mid-training (kill -9) leaves: a status that still says running, and no holder.
    folders.write_status(root / "killed", "running", step=1)
    train_tiny(root / "live", 2)
    os.utime(root / "finished" / "status.json", (1, 1))  # the oldest activity

    with open(root / "live" / ".lock") as lock:  # a live `zoo run` holds its folder
        fcntl.flock(lock, fcntl.LOCK_EX)
        result = zoo("runs", root, "--json")
    assert result.exit_code == 0, result.output
    rows = {os.path.basename(r["run"]): r for r in json.loads(result.output)}
    assert {name: r["status"] for name, r in rows.items()} == {
        "finished": "finished",
        "stopped": "stopped",
        "nonfinite": "non-finite",
        "killed": "failed",
        "live": "running",
    }
    assert list(rows)[-1] == "finished"
    assert (rows["finished"]["step"], rows["finished"]["steps"], rows["finished"]["checkpoint"]) == (
        3,
        3,
        "step_000003",
    )
    assert rows["finished"]["metrics"].keys() == {"loss_d", "loss_g"}
    assert rows["finished"]["metrics"]["loss_d"] == read_metrics(root / "finished")[-1]["loss_d"]
    assert rows["finished"]["wall_s"] > 0 and rows["finished"]["device"] == "cpu"
    assert "train.time_limit_min" in rows["stopped"]["message"] and rows["stopped"]["step"] < 50
    assert "training went non-finite" in rows["nonfinite"]["message"]
    assert "ended without saying why" in rows["killed"]["message"]

    table = zoo("runs", root).output.splitlines()
    assert table[0].split() == ["RUN", "PLUGIN", "STEPS", "STATUS", "METRICS", "WALL", "CHECKPOINT"]
    assert table[-1].split()[:4] == [str(root / "finished"), "dcgan", "3/3", "finished"]
    assert one_line_error(zoo("runs", tmp_path / "nowhere")).endswith(
        "is not a folder; `zoo run NAME` puts runs in runs/ (or where --out says)"
    )


def test_a_run_that_cannot_start_leaves_the_previous_status_alone(tmp_path):
    run = tmp_path / "run"
    train_tiny(run, 2)
    again = zoo("run", "dcgan", "--out", run, "--resume")  # already at train.steps: refused before it starts
    assert again.exit_code == 1
    assert folders.read_status(run)["status"] == "finished"


def test_wall_time_continues_across_a_resume(tmp_path):
    run = tmp_path / "run"
    train_tiny(run, 2)
    rows = read_metrics(run)
    rows[-1]["elapsed_s"] = 1000.0  # as if the first part had trained for 1000 s
    (run / "metrics.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = zoo("run", "dcgan", "--out", run, "--resume", "--set", "train.steps=4")
    assert result.exit_code == 0, result.output
    after = [row["elapsed_s"] for row in read_metrics(run)[2:]]
    assert len(after) == 2 and all(1000.0 < seconds < 1100.0 for seconds in after)
    assert 1000.0 < folders.read_status(run)["elapsed_s"] < 1100.0
