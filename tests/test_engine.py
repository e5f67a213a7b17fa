"""The training loop: checkpoints, exact resume, gradient accumulation, EMA, mixed precision."""

import json

import pytest
import torch

from conftest import TINY, assert_same_tensors, final_state, train_tiny, zoo
from zoo.data.sharding import ShardedEpochSampler
from zoo.interfaces import Generator
from zoo.registry import PluginSpec
from zoo.sharing.weights import load_tensors
from zoo.training import checkpoints
from zoo.training.ema import EMA
from zoo.training.engine import Trainer


def test_run_writes_config_metrics_checkpoints_and_previews(tmp_path):
    run = tmp_path / "run"
    train_tiny(run, 4, "--set", "train.checkpoint_every=2", "--set", "train.sample_every=2")
    assert [p.name for p in checkpoints.all_checkpoints(run)] == ["step_000002", "step_000004"]
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_000002.png", "step_000004.png"]
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert {"loss_d", "loss_g", "images_per_s", "data_share"} <= rows[0].keys()
    assert all(0.0 <= r["data_share"] < 1.0 for r in rows)
    assert "plugin: dcgan" in (run / "config.yaml").read_text()


def test_resume_continues_exactly_where_an_uninterrupted_run_would_be(tmp_path):
    # 6 steps straight vs. 3 steps, stop, resume to 6: same weights, optimizer state, EMA and log.
    # (Resuming across an epoch boundary is covered by the sampler test's skip_batches.)
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train_tiny(straight, 6, "--set", "train.checkpoint_every=3", "--set", "train.ema_decay=0.9")
    train_tiny(resumed, 3, "--set", "train.ema_decay=0.9")
    result = zoo("run", "dcgan", "--out", resumed, "--resume", "--set", "train.steps=6")
    assert result.exit_code == 0, result.output
    assert "resuming at step 3 of 6" in result.output

    (a_weights, a_optim), (b_weights, b_optim) = final_state(straight), final_state(resumed)
    assert_same_tensors(a_weights, b_weights)
    ema = [load_tensors(checkpoints.latest(run) / "ema.safetensors")[0] for run in (straight, resumed)]
    assert_same_tensors(*ema)
    for name in ("generator", "discriminator"):
        a_state, b_state = a_optim["optimizers"][name]["state"], b_optim["optimizers"][name]["state"]
        assert a_state.keys() == b_state.keys()
        for index in a_state:
            assert_same_tensors(a_state[index], b_state[index])

    def losses(run):
        return [
            (r["step"], r["loss_d"], r["loss_g"])
            for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
        ]

    assert losses(straight) == losses(resumed)


def test_resume_after_a_crash_drops_log_lines_past_the_checkpoint(tmp_path):
    run = tmp_path / "run"
    train_tiny(run, 4, "--set", "train.checkpoint_every=2", "--set", "train.keep_checkpoints=0")
    # Simulate a crash after step 4's log line but before its checkpoint was complete.
    final = checkpoints.latest(run)
    final.rename(final.with_name(".step_000004.partial"))
    assert checkpoints.latest(run).name == "step_000002"  # a partial checkpoint is never picked up
    result = zoo("run", "dcgan", "--out", run, "--resume")
    assert "resuming at step 2 of 4" in result.output
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_a_run_on_the_embedded_digits_records_their_drawing_and_resuming_another_drawing_warns(tmp_path, image_folder):
    from zoo.data.embedded import EMBEDDED_VERSION
    from zoo.runs import folders

    run = tmp_path / "run"
    train_tiny(run, 2)
    assert (run / folders.DRAWING).read_text().strip() == EMBEDDED_VERSION
    same = zoo("run", "dcgan", "--out", run, "--resume", "--set", "train.steps=3")
    assert same.exit_code == 0 and "embedded digits" not in same.output, same.output
    (run / folders.DRAWING).write_text("1\n")  # as if it had been trained on an older drawing
    older = zoo("run", "dcgan", "--out", run, "--resume", "--set", "train.steps=4")
    assert older.exit_code == 0, older.output
    assert "may have learned drawing 1 of the embedded digits" in older.output
    assert "start a fresh run without --resume" in older.output
    (run / folders.DRAWING).unlink()  # a run from before zoo recorded the drawing
    unrecorded = zoo("run", "dcgan", "--out", run, "--resume", "--set", "train.steps=5")
    assert "may have learned an older drawing of the embedded digits" in unrecorded.output
    on_files = tmp_path / "on-files"
    train_tiny(on_files, 1, "--set", f"data.root={image_folder}")
    assert not (on_files / folders.DRAWING).exists()  # its images are files: nothing to record


def test_old_checkpoints_are_pruned(tmp_path):
    run = tmp_path / "run"
    train_tiny(run, 6, "--set", "train.checkpoint_every=1", "--set", "train.keep_checkpoints=2")
    assert [p.name for p in checkpoints.all_checkpoints(run)] == ["step_000005", "step_000006"]


def test_existing_run_is_never_overwritten_and_finished_run_says_how_to_extend(tmp_path):
    run = tmp_path / "run"
    train_tiny(run, 2)
    again = zoo("run", "dcgan", *TINY, "--out", run)
    assert again.exit_code == 1 and "already holds a run" in again.output and "--resume" in again.output
    done = zoo("run", "dcgan", "--out", run, "--resume")
    assert done.exit_code == 1 and "already reached step 2" in done.output and "train.steps=4" in done.output
    missing = zoo("run", "dcgan", "--out", tmp_path / "nothing", "--resume")
    assert missing.exit_code == 1 and "not a run folder" in missing.output


def test_without_out_each_run_takes_a_fresh_folder_and_resume_takes_the_newest(tmp_path):
    """(cwd is tmp_path: see conftest.) The README's main job can be run twice in the same folder."""
    nothing = zoo("run", "dcgan", "--resume")
    assert nothing.exit_code == 1 and "no dcgan run with a checkpoint under runs/" in nothing.output
    first = zoo("run", "dcgan", *TINY, "--set", "train.steps=2")
    second = zoo("run", "dcgan", *TINY, "--set", "train.steps=2")
    assert first.exit_code == second.exit_code == 0, first.output + second.output
    assert "run folder: runs/dcgan\n" in first.output and "run folder: runs/dcgan-2\n" in second.output
    assert "zoo export runs/dcgan-2 --out" in second.output
    assert checkpoints.step_of(checkpoints.latest(tmp_path / "runs" / "dcgan")) == 2
    assert checkpoints.step_of(checkpoints.latest(tmp_path / "runs" / "dcgan-2")) == 2
    resumed = zoo("run", "dcgan", "--resume", "--set", "train.steps=3")
    assert resumed.exit_code == 0 and "run folder: runs/dcgan-2\n" in resumed.output
    assert checkpoints.step_of(checkpoints.latest(tmp_path / "runs" / "dcgan-2")) == 3
    assert checkpoints.step_of(checkpoints.latest(tmp_path / "runs" / "dcgan")) == 2
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["dcgan", "dcgan-2"]


def test_a_config_typo_is_reported_before_anything_about_the_run_folder(tmp_path):
    run = tmp_path / "run"
    train_tiny(run, 2)
    for args in (("--out", run), ("--out", run, "--resume"), ("--resume",), ()):
        typo = zoo("run", "dcgan", "--set", "train.step=3", *args)
        assert typo.exit_code == 1
        assert typo.output.strip() == "Error: unknown config key 'train.step'; did you mean 'train.steps'?", args
    assert not (tmp_path / "runs").exists()  # the typo claimed no folder either


class LinearRegression(Generator):
    """A plugin without BatchNorm or noise, so accumulated gradients can be checked exactly."""

    def build_modules(self):
        return {"linear": torch.nn.Linear(4, 1)}

    def configure_optimizers(self):
        return {"linear": torch.optim.SGD(self.modules["linear"].parameters(), lr=0.1)}

    def train_dataset(self):
        x = torch.randn(64, 4, generator=torch.Generator().manual_seed(0))
        return [{"x": row, "y": row.sum(0, keepdim=True)} for row in x]

    def training_step(self, batch, step):
        loss = torch.nn.functional.mse_loss(self.modules["linear"](batch["x"]), batch["y"])
        step.optimize("linear", loss)
        return {"loss": loss.detach()}

    def generate(self, n, seed, batch_size=256):
        return torch.zeros(n, 3, 4, 4)


def train_linear(run_dir, *overrides):
    spec = PluginSpec("linear", f"{__name__}:LinearRegression", "test")
    config = spec.config(overrides=["train.sample_every=0", *overrides])
    trainer = Trainer(spec, config, run_dir)
    trainer.fit()
    return trainer.plugin.modules["linear"]


def test_gradient_accumulation_equals_one_big_batch(tmp_path):
    big = train_linear(tmp_path / "big", "train.steps=3", "train.batch_size=16")
    accumulated = train_linear(tmp_path / "acc", "train.steps=3", "train.batch_size=8", "train.grad_accum=2")
    small = train_linear(tmp_path / "small", "train.steps=3", "train.batch_size=8")
    assert torch.allclose(big.weight, accumulated.weight, atol=1e-6)
    assert not torch.allclose(small.weight, accumulated.weight, atol=1e-4)


def test_ema_is_kept_checkpointed_and_exported(tmp_path):
    run = tmp_path / "run"
    train_tiny(run, 3, "--set", "train.ema_decay=0.5")
    ckpt = checkpoints.latest(run)
    ema, _ = load_tensors(ckpt / "ema.safetensors")
    live, _ = load_tensors(ckpt / "modules.safetensors")
    key = "generator.main.0.weight"
    assert not torch.equal(ema[key], live[key])  # an average, not a copy
    assert set(k.split(".")[0] for k in ema) == {"generator"}
    result = zoo("export", run, "--out", tmp_path / "g.safetensors")
    assert "(EMA weights)" in result.output
    exported, meta = load_tensors(tmp_path / "g.safetensors")
    assert meta["ema"] == "true" and torch.equal(exported[key], ema[key])


def test_ema_decay_warms_up_to_its_target():
    ema = EMA({"m": torch.nn.Linear(1, 1)}, decay=0.999)
    assert ema.decay_at(0) == pytest.approx(0.1)
    assert ema.decay_at(90) == pytest.approx(0.91)
    assert ema.decay_at(100_000) == 0.999


def test_bf16_mixed_precision_trains_on_cpu(tmp_path, monkeypatch):
    from zoo.nn import DCGANDiscriminator as Discriminator

    seen = []
    forward = Discriminator.forward
    monkeypatch.setattr(Discriminator, "forward", lambda self, x: seen.append(forward(self, x)) or seen[-1])
    run = tmp_path / "run"
    result = train_tiny(run, 2, "--set", "train.mixed_precision=bf16")
    row = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert torch.isfinite(torch.tensor([row["loss_d"], row["loss_g"]])).all()
    assert "mixed precision: bf16" in result.output
    assert seen and all(out.dtype == torch.bfloat16 for out in seen)  # D really ran under bf16 autocast


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only message")
def test_fp16_without_gpu_is_a_clear_error(tmp_path):
    result = zoo("run", "dcgan", *TINY, "--set", "train.mixed_precision=fp16", "--out", tmp_path / "r")
    assert result.exit_code == 1 and "fp16 needs a CUDA GPU" in result.output


def test_sampler_shards_resumes_and_reshuffles_per_epoch():
    full = ShardedEpochSampler(20, batch_size=3, seed=1)
    first = list(full)
    assert len(first) == 18 and len(set(first)) == 18  # whole batches only, no repeats
    full.set_epoch(0, skip_batches=2)
    assert list(full) == first[6:]
    full.set_epoch(1)
    assert list(full) != first
    shards = [list(ShardedEpochSampler(20, 3, seed=1, rank=r, world_size=2)) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) == 9 and not set(shards[0]) & set(shards[1])


def test_two_process_data_parallel_training(tmp_path):
    """`torchrun`/`accelerate launch` with 2 CPU processes (gloo): real DDP through the same code.
    Without --out, the two processes agree on one fresh run folder (runs/dcgan is taken here)."""
    import os
    import subprocess
    import sys

    (tmp_path / "runs" / "dcgan").mkdir(parents=True)
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    args = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "-m",
        "zoo",
        "run",
        "dcgan",
        *TINY,
        "--set",
        "train.steps=4",
        "--set",
        "train.ema_decay=0.9",
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "batch 8x1x2" in done.stdout  # two processes, one banner (the main process prints)
    assert done.stdout.count("done: step 4") == 1 and done.stdout.count("run folder: runs/dcgan-2") == 1
    assert [p.name for p in checkpoints.all_checkpoints(tmp_path / "runs" / "dcgan-2")] == ["step_000004"]
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["dcgan", "dcgan-2"]


def test_time_limit_stops_with_a_checkpoint_that_resumes(tmp_path):
    run = tmp_path / "run"
    result = train_tiny(run, 10_000, "--set", "train.time_limit_min=0.002")  # about 0.1 s
    assert "train.time_limit_min=0.002 reached" in result.output
    stopped_at = checkpoints.step_of(checkpoints.latest(run))
    assert 0 < stopped_at < 10_000
    resumed = zoo(
        "run",
        "dcgan",
        "--out",
        run,
        "--resume",
        "--set",
        f"train.steps={stopped_at + 2}",
        "--set",
        "train.time_limit_min=0",
    )
    assert resumed.exit_code == 0 and checkpoints.step_of(checkpoints.latest(run)) == stopped_at + 2
