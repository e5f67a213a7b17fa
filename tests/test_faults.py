"""Training never loses good work: non-finite losses, corrupt checkpoints, runs that collide, and
processes killed at the worst moment (kill -9 mid-checkpoint and mid-training, SIGTERM mid-sample)."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from conftest import TINY, assert_same_tensors, final_state, train_tiny, zoo
from zoo.sharing.weights import load_tensors, save_tensors
from zoo.training import checkpoints


def strict_rows(run):
    """metrics.jsonl as strict JSON: a bare NaN or Infinity fails."""

    def refuse(constant):
        raise AssertionError(f"metrics.jsonl holds a bare {constant}")

    return [json.loads(line, parse_constant=refuse) for line in (run / "metrics.jsonl").read_text().splitlines()]


def one_line_error(result):
    assert result.exit_code == 1, result.output
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: ") and "Traceback" not in result.output
    return last


# --- non-finite losses ----------------------------------------------------------------------------------


def test_a_loss_that_turns_nan_stops_the_run_and_keeps_the_good_checkpoints(tmp_path):
    run = tmp_path / "run"
    train_tiny(run, 4, "--set", "train.checkpoint_every=2", "--set", "train.keep_checkpoints=2")
    # A resumed run takes the new learning rates (not the checkpoint's) and blows up.
    blow_up = (
        "--set",
        "optim.lr_g=1e30",
        "--set",
        "optim.lr_d=1e30",
        "--set",
        "train.steps=30",
        "--set",
        "train.checkpoint_every=2",
        "--set",
        "train.log_every=1",
    )
    line = one_line_error(zoo("run", "dcgan", "--out", run, "--resume", *blow_up))
    assert "training went non-finite: loss_" in line and " at step " in line and "without saving" in line
    assert "lower the learning rate" in line and f"zoo run dcgan --out {run} --resume" in line

    saved = checkpoints.all_checkpoints(run)
    assert saved and checkpoints.step_of(saved[-1]) < 30
    for path in saved:  # every checkpoint left, the newest included, holds finite weights
        checkpoints.load(path)
    bad_step = int(line.split(" at step ")[1].split(";")[0])
    assert checkpoints.step_of(saved[-1]) < bad_step
    assert any(value is None for row in strict_rows(run) for value in row.values())  # NaN logged as null

    # Continue from the last good checkpoint with a sane learning rate.
    result = zoo("run", "dcgan", "--out", run, "--resume", "--set", "optim.lr_g=2e-4", "--set", "optim.lr_d=2e-4")
    assert result.exit_code == 0, result.output
    assert f"resuming at step {checkpoints.step_of(saved[-1])} of 30" in result.output
    assert checkpoints.step_of(checkpoints.latest(run)) == 30


def test_non_finite_weights_are_never_checkpointed_even_when_the_loss_is_finite(tmp_path):
    from zoo.registry import Registry
    from zoo.training.engine import NonFiniteError, Trainer

    spec = Registry.discover().get("dcgan")
    config = spec.config([], [item for item in TINY if item != "--set"] + ["train.steps=6", "train.checkpoint_every=2"])
    trainer = Trainer(spec, config, tmp_path / "run")
    step = trainer.plugin.training_step

    def poisoning_step(batch, train_step):
        logs = step(batch, train_step)
        if train_step.index == 3:  # after step 4's losses: a weight goes NaN, and the checkpoint at 4 is next
            with torch.no_grad():
                next(trainer.plugin.modules["generator"].parameters()).view(-1)[0] = float("nan")
        return logs

    trainer.plugin.training_step = poisoning_step
    with pytest.raises(NonFiniteError, match=r"weight generator\.\S+ became non-finite by step 4"):
        trainer.fit()
    assert [p.name for p in checkpoints.all_checkpoints(tmp_path / "run")] == ["step_000002"]


def test_export_skips_or_refuses_checkpoints_with_non_finite_weights(tmp_path):
    run = tmp_path / "run"
    train_tiny(run, 2, "--set", "train.checkpoint_every=1")
    modules = checkpoints.latest(run) / "modules.safetensors"
    tensors, _ = load_tensors(modules)
    tensors = {name: t.clone() for name, t in tensors.items()}
    next(t for t in tensors.values() if t.is_floating_point()).view(-1)[0] = float("inf")
    save_tensors(modules, tensors)

    line = one_line_error(zoo("export", run, "--out", tmp_path / "x.safetensors", "--step", 2))
    assert "holds non-finite weights" in line and "--step" in line and "step_000001" in line
    result = zoo("export", run, "--out", tmp_path / "y.safetensors")
    assert result.exit_code == 0, result.output
    assert "warning: skipping checkpoint" in result.output and "at step 1" in result.output


# --- corrupt checkpoints --------------------------------------------------------------------------------

DAMAGE = {
    "truncated weights": lambda ckpt: (ckpt / "modules.safetensors").write_bytes(
        (ckpt / "modules.safetensors").read_bytes()[:100]
    ),
    "missing weights": lambda ckpt: (ckpt / "modules.safetensors").unlink(),
    "bad state.json": lambda ckpt: (ckpt / "state.json").write_text("{step: 4"),
    "missing optimizer state": lambda ckpt: (ckpt / "optimizers.pt").unlink(),
    "truncated optimizer state": lambda ckpt: (ckpt / "optimizers.pt").write_bytes(b"PK\x03\x04"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_resume_skips_a_checkpoint_that_does_not_load(damage, tmp_path):
    run = tmp_path / "run"
    train_tiny(run, 4, "--set", "train.checkpoint_every=2", "--set", "train.keep_checkpoints=0")
    DAMAGE[damage](checkpoints.latest(run))
    result = zoo("run", "dcgan", "--out", run, "--resume", "--set", "train.steps=6")
    assert result.exit_code == 0, result.output
    assert "warning: skipping checkpoint" in result.output and "step_000004 cannot be read" in result.output
    assert "resuming at step 2 of 6" in result.output
    assert [r["step"] for r in strict_rows(run)] == [1, 2, 3, 4, 5, 6]
    checkpoints.load(checkpoints.latest(run))


def test_when_no_checkpoint_loads_one_line_says_what_to_do(tmp_path):
    run = tmp_path / "run"
    train_tiny(run, 4, "--set", "train.checkpoint_every=2")
    for ckpt in checkpoints.all_checkpoints(run):
        DAMAGE["truncated weights"](ckpt)
    line = one_line_error(zoo("run", "dcgan", "--out", run, "--resume", "--set", "train.steps=6"))
    assert "none of the 2 checkpoints" in line and "another --out" in line


def test_rotation_never_deletes_the_checkpoint_a_resumed_run_just_wrote(tmp_path):
    run = tmp_path / "run"
    train_tiny(run, 4, "--set", "train.checkpoint_every=2", "--set", "train.keep_checkpoints=0")
    DAMAGE["truncated weights"](checkpoints.latest(run))  # step 4 is unreadable: resume from 2
    result = zoo(
        "run", "dcgan", "--out", run, "--resume", "--set", "train.steps=3", "--set", "train.keep_checkpoints=1"
    )
    assert result.exit_code == 0, result.output
    # keep_checkpoints=1 counts only checkpoints up to the one just written: the unreadable step 4 from
    # before the resume does not push the good step 3 out.
    assert [p.name for p in checkpoints.all_checkpoints(run)] == ["step_000003", "step_000004"]
    with pytest.warns(UserWarning, match="step_000004 cannot be read"):
        assert checkpoints.newest_loadable(run)[0].name == "step_000003"


# --- one run per folder ---------------------------------------------------------------------------------

HOLD = textwrap.dedent("""
    import sys, time
    from zoo.runs.folders import held
    with held(sys.argv[1]):
        print("held", flush=True)
        time.sleep(120)
""")


def test_a_live_run_holds_its_folder_and_a_killed_one_does_not(tmp_path):
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        line = one_line_error(zoo("run", "dcgan", *TINY, "--set", "train.steps=2", "--out", run))
        assert f"{run} is in use by a running `zoo run` (pid {holder.pid} on " in line and "another --out" in line
        assert not checkpoints.all_checkpoints(run)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    train_tiny(run, 2)  # the lock died with its process


def test_the_folder_is_held_before_the_data_is_read(tmp_path):
    """A refused run should not first spend minutes decoding a large image folder."""
    run = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        line = one_line_error(
            zoo("run", "dcgan", *TINY, "--set", f"data.root={tmp_path / 'no-such-folder'}", "--out", run)
        )
        assert "is in use by a running `zoo run`" in line
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()


# --- processes killed at the worst moment ---------------------------------------------------------------


def run_and_kill_itself(run, steps, patch):
    """`zoo run dcgan` (tiny) in a fresh process with `patch` applied first; the patch SIGKILLs it."""
    argv = [
        "zoo",
        "run",
        "dcgan",
        *TINY,
        "--set",
        f"train.steps={steps}",
        "--set",
        "train.checkpoint_every=2",
        "--set",
        "train.keep_checkpoints=0",
        "--out",
        str(run),
    ]
    script = "\n".join(
        [
            "import os, signal, sys",
            "import zoo.training.checkpoints, zoo.training.engine",
            patch,
            "from zoo.cli import main",
            f"sys.argv = {argv!r}",
            "main()",
        ]
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr


KILLS = {
    # kill -9 after step 4's weights are on disk, before its checkpoint is complete
    "during a checkpoint write": textwrap.dedent("""
        real = zoo.training.checkpoints.save_tensors
        def save_tensors(path, *args, **kwargs):
            real(path, *args, **kwargs)
            if "step_000004" in str(path):
                os.kill(os.getpid(), signal.SIGKILL)
        zoo.training.checkpoints.save_tensors = save_tensors
    """),
    # kill -9 in the middle of step 6 (after step 4's checkpoint and step 5's log line)
    "in the middle of training": textwrap.dedent("""
        real = zoo.training.engine.Trainer._train_one_step
        def step(self, *args, **kwargs):
            if self.step == 5:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(self, *args, **kwargs)
        zoo.training.engine.Trainer._train_one_step = step
    """),
}


@pytest.mark.parametrize("moment", list(KILLS))
def test_kill_9_loses_at_most_one_checkpoint_interval_and_resume_matches_an_uninterrupted_run(moment, tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    train_tiny(straight, 8, "--set", "train.checkpoint_every=2", "--set", "train.keep_checkpoints=0")
    run_and_kill_itself(killed, 8, KILLS[moment])

    expected_step = 2 if moment == "during a checkpoint write" else 4
    assert checkpoints.step_of(checkpoints.latest(killed)) == expected_step  # at most one interval lost
    with (killed / "metrics.jsonl").open("a") as log:
        log.write('{"step": 6, "loss_d": 0.69')  # as a kill mid-write would leave it
    result = zoo("run", "dcgan", "--out", killed, "--resume")
    assert result.exit_code == 0, result.output
    assert f"resuming at step {expected_step} of 8" in result.output

    (a_weights, _), (b_weights, _) = final_state(straight), final_state(killed)
    assert_same_tensors(a_weights, b_weights)
    losses = [[(r["step"], r["loss_d"], r["loss_g"]) for r in strict_rows(run)] for run in (straight, killed)]
    assert losses[0] == losses[1]
    assert not list(checkpoints.folder(killed).glob(".*.partial"))  # the next save at that step cleared it


def test_an_interrupt_mid_write_waits_until_the_file_is_whole(tmp_path):
    # The CLI's Ctrl-C / SIGTERM handler, called as if the signal landed halfway through a write:
    # the interrupt is held until the file is in place, then raised; outside a write it is immediate.
    from zoo.files import atomic_write, interrupt_or_defer

    def write_and_get_interrupted(tmp):
        Path(tmp).write_text("first half")
        interrupt_or_defer(signal.SIGTERM, None)
        Path(tmp).write_text("first half, second half")

    target = tmp_path / "out.txt"
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, write_and_get_interrupted)
    assert target.read_text() == "first half, second half" and os.listdir(tmp_path) == ["out.txt"]
    with pytest.raises(KeyboardInterrupt):
        interrupt_or_defer(signal.SIGTERM, None)
    atomic_write(target, lambda tmp: Path(tmp).write_text("again"))  # nothing left pending
    assert target.read_text() == "again"


def test_training_abort_on_a_second_interrupt_also_waits_for_a_whole_file(tmp_path):
    # The training loop's handler: the first Ctrl-C asks for a stop; the second aborts, through the
    # same hold as the CLI's handler, so a status or metrics file being written is not left half-done.
    from zoo.files import atomic_write
    from zoo.training.step import StopRequest

    stop = StopRequest()

    def write_and_get_interrupted_twice(tmp):
        Path(tmp).write_text("first half")
        stop._handle(signal.SIGINT, None)
        stop._handle(signal.SIGINT, None)
        Path(tmp).write_text("first half, second half")

    target = tmp_path / "status.json"
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, write_and_get_interrupted_twice)
    assert stop.requested
    assert target.read_text() == "first half, second half" and os.listdir(tmp_path) == ["status.json"]


def test_sigterm_during_sample_leaves_only_whole_images(tmp_path):
    train_tiny(tmp_path / "run", 1)
    weights = tmp_path / "dcgan.safetensors"
    assert zoo("export", tmp_path / "run", "--out", weights).exit_code == 0
    out = tmp_path / "out"
    sampler = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zoo",
            "sample",
            "--weights",
            str(weights),
            "-n",
            "20000",
            "--batch-size",
            "2000",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (out.is_dir() and len(os.listdir(out)) > 20):
        time.sleep(0.01)
    sampler.send_signal(signal.SIGTERM)
    output = sampler.communicate(timeout=60)[0]
    assert sampler.returncode != 0 and "Traceback" not in output, output
    names = sorted(os.listdir(out))
    assert 20 < len(names) < 20000
    assert all(name.endswith(".png") and not name.startswith(".") for name in names)  # no temporary file left
    for name in names:
        Image.open(out / name).load()  # every image is whole


def test_resume_restores_a_cycled_schedule_exactly_and_takes_a_new_learning_rate(tmp_path):
    """digit_classifier's OneCycleLR moves the learning rate and Adam's beta1 every step. Resuming
    with the same config restores both exactly; resuming with a new optim.lr scales the schedule."""
    import shutil

    from zoo.registry import Registry
    from zoo.training.engine import Trainer

    spec = Registry.discover().get("digit_classifier")
    small = [
        "model.width=4",
        "train.batch_size=8",
        "train.steps=6",
        "train.checkpoint_every=3",
        "train.keep_checkpoints=0",
        "train.sample_every=0",
        "train.log_every=1",
    ]
    straight = tmp_path / "straight"
    Trainer(spec, spec.config([], small), straight).fit()

    def resumed_from_step_3(name, *extra):
        run = tmp_path / name
        shutil.copytree(straight, run)
        shutil.rmtree(checkpoints.folder(run) / "step_000006")
        trainer = Trainer(spec, spec.config([], small + list(extra)), run)
        trainer.fit(resume=True)
        return trainer

    same = resumed_from_step_3("same")
    assert_same_tensors(final_state(straight)[0], final_state(tmp_path / "same")[0])
    assert (
        same.optimizers["net"].param_groups[0]["betas"]
        == final_state(straight)[1]["optimizers"]["net"]["param_groups"][0]["betas"]
    )

    lr = spec.config([], small).optim.lr
    lower = resumed_from_step_3("lower", f"optim.lr={lr / 10}")
    group, before = (
        lower.optimizers["net"].param_groups[0],
        final_state(straight)[1]["optimizers"]["net"]["param_groups"][0],
    )
    assert group["max_lr"] == pytest.approx(before["max_lr"] / 10) and group["lr"] == pytest.approx(before["lr"] / 10)


def test_a_bug_in_training_step_keeps_its_traceback_and_ends_with_how_to_resume(tmp_path):
    """The author's traceback stays (it points at their line), the progress bar is closed before it,
    and the last line says how to go on from the checkpoint that survived."""
    run = tmp_path / "run"
    patch = textwrap.dedent("""
        import zoo.gan
        real = zoo.gan.GAN.training_step
        def training_step(self, batch, step):
            if step.index == 3:
                raise RuntimeError("the discriminator exploded")
            return real(self, batch, step)
        zoo.gan.GAN.training_step = training_step
    """)
    argv = [
        "zoo",
        "run",
        "dcgan",
        *TINY,
        "--set",
        "train.steps=6",
        "--set",
        "train.checkpoint_every=2",
        "--out",
        str(run),
    ]
    script = "\n".join([patch, "import sys", "from zoo.cli import main", f"sys.argv = {argv!r}", "main()"])
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    lines = done.stderr.rstrip().splitlines()
    assert (
        "Traceback (most recent call last)" in done.stderr and "RuntimeError: the discriminator exploded" in done.stderr
    )
    assert (
        lines[-1]
        == f"zoo: the run is saved up to step_000002; once fixed, continue with: zoo run dcgan --out {run} --resume"
    )
    after_traceback = done.stderr.split("Traceback (most recent call last)", 1)[1]
    assert "step/s" not in after_traceback  # no progress bar redrawn under it
    assert checkpoints.step_of(checkpoints.latest(run)) == 2
