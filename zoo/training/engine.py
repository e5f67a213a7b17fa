"""The one training loop, on accelerate.Accelerator. Plugins supply modules, optimizers, a dataset and a
`training_step`; everything else is here: devices, mixed precision, gradient accumulation, multi-GPU
(`accelerate launch -m zoo run ...`), seeding, EMA, channels_last and torch.compile (zoo.training.speed),
checkpoints, resume, logging, previews.

Good work is never lost: a run holds its folder (no second run writes into it at once); a logged value
that turns NaN or infinite stops the run with an error before anything non-finite is saved (fp16's loss
scaler still skips its overflowing steps: those leave the loss finite); resume starts from the newest
checkpoint that loads, skipping any that a crash or a full disk left unreadable.

Reproducibility: the initial weights depend on train.seed; the data order on (seed, epoch); the randomness
inside step k on (seed, k). So a resumed run continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import send_to_device
from torch import nn
from tqdm.auto import tqdm

from zoo.config import Config, dump
from zoo.data.pixels import to_model_range
from zoo.data.sharding import training_batches
from zoo.errors import ConfigError, ZooError
from zoo.files import write_text_atomic
from zoo.interfaces import Plugin
from zoo.registry import PluginSpec
from zoo.runs import folders
from zoo.sharing.weights import load_module_state
from zoo.training import checkpoints, speed, tracking
from zoo.training.ema import EMA
from zoo.training.run_log import MetricLog, NonFiniteWatch, scalars
from zoo.training.step import AcceleratedStep, StopRequest, step_seed
from zoo.viz import grid_pixels, save_image


def start_run(spec: PluginSpec, config: Config, run_dir: Path, resume: bool | None = None) -> tuple[Trainer, Path]:
    """The one way a run starts, for `zoo run`, zoo.train, the benchmarks and zoo.testing alike: hold
    the folder (from before the data is read, which takes minutes for a large folder), build the
    trainer and train, resuming from the folder's newest loadable checkpoint when `resume` (None: when
    the folder holds a checkpoint). config.yaml is written once the run has its config. Returns
    (trainer, last checkpoint)."""
    run_dir = Path(run_dir)
    with folders.held(run_dir) if folders.process_state().is_main_process else contextlib.nullcontext():
        trainer = Trainer(spec, config, run_dir)
        if resume is None:
            resume = bool(checkpoints.all_checkpoints(run_dir))
        return trainer, trainer.fit(resume=resume)


MIXED_PRECISION = ("no", "fp16", "bf16")


class NonFiniteError(ZooError):
    """Training produced a NaN or an infinity; the run stopped without saving it."""


def validate_train_config(config: Config) -> list[str]:
    """Check the train.* keys; return the trackers train.log_with names (a ConfigError says what is wrong)."""
    t = config.train
    if t.mixed_precision not in MIXED_PRECISION:
        raise ConfigError(
            f"train.mixed_precision must be one of {', '.join(MIXED_PRECISION)}, got '{t.mixed_precision}'"
        )
    if t.mixed_precision == "fp16" and not torch.cuda.is_available():
        raise ConfigError("train.mixed_precision=fp16 needs a CUDA GPU; on the CPU use bf16 or no")
    for key in ("steps", "batch_size", "grad_accum", "log_every"):
        if t[key] < 1:
            raise ConfigError(f"train.{key} must be at least 1, got {t[key]}")
    for key in ("checkpoint_every", "sample_every", "keep_checkpoints", "time_limit_min"):
        if t[key] < 0:
            raise ConfigError(f"train.{key} must be 0 or more, got {t[key]}")
    if not 0.0 <= t.ema_decay < 1.0:
        raise ConfigError(f"train.ema_decay must be in [0, 1), got {t.ema_decay}")
    speed.compile_backend(t)  # an unknown backend fails here, before the data is read
    return tracking.chosen(t.log_with)


class Trainer:
    def __init__(self, spec: PluginSpec, config: Config, run_dir: str | Path):
        trackers = validate_train_config(config)
        self.spec, self.config, self.run_dir = spec, config, Path(run_dir)
        t = config.train
        self.accelerator = Accelerator(
            mixed_precision=t.mixed_precision,
            gradient_accumulation_steps=t.grad_accum,
            log_with=tracking.build(trackers, self.run_dir, spec.name) or None,
        )
        torch.manual_seed(t.seed)  # initial weights
        self.plugin: Plugin = spec.build(config)
        self.dataset = self.plugin.train_dataset()
        self.optimizers = self.plugin.configure_optimizers()
        self.lr_schedulers = self.plugin.configure_lr_schedulers(self.optimizers)
        self.ema: EMA | None = None
        self.resume_from: checkpoints.Checkpoint | None = None
        self.step = 0
        self.status: dict | None = None  # what status.json says once the run has started

    # --- the loop ---------------------------------------------------------------------------------
    def fit(self, resume: bool = False) -> Path:
        """Train to train.steps (or the time limit, or Ctrl-C) and return the last checkpoint. The run
        folder's lock is start_run's: call that, unless a test drives the trainer itself."""
        try:
            return self._fit(resume)
        except NonFiniteError as exc:
            self._set_status("non-finite", message=str(exc))
            raise
        except KeyboardInterrupt:
            self._set_status("stopped", message="aborted by a second Ctrl-C")
            raise
        except BaseException as exc:
            self._set_status(
                "failed", message=str(exc) if isinstance(exc, ZooError) else f"{type(exc).__name__}: {exc}"
            )
            if isinstance(exc, Exception) and not isinstance(exc, ZooError):
                self._advise_after(exc)
            raise
        finally:
            tracking.finish(self.accelerator)

    def _advise_after(self, exc: Exception) -> None:
        """A bug (in a plugin's training_step, say) keeps its traceback, which points at the line; what
        to do next is added as the last line under it."""
        if not self.accelerator.is_main_process or self.status is None:
            return
        saved = (checkpoints.all_checkpoints(self.run_dir) or [None])[-1]
        advice = (
            f"zoo: the run is saved up to {saved.name}; once fixed, continue with: "
            f"zoo run {self.spec.name} --out {self.run_dir} --resume"
            if saved
            else f"zoo: no checkpoint was saved yet (train.checkpoint_every={self.config.train.checkpoint_every}); "
            f"once fixed, start again with --out {self.run_dir}"
        )
        if hasattr(exc, "add_note"):  # Python 3.11+: printed under the traceback
            exc.add_note(advice)
        else:
            self.accelerator.print(advice)

    def _set_status(self, state: str, **fields) -> None:
        """status.json (see zoo.runs.folders), from the main process, once the run has really started."""
        if self.status is not None and self.accelerator.is_main_process:
            self.status.update(fields, step=self.step, elapsed_s=self.log.elapsed())
            folders.write_status(self.run_dir, state, **self.status)

    def _fit(self, resume: bool) -> Path:
        acc, t = self.accelerator, self.config.train
        if resume:
            self._load()
        self._write_config(resume)
        self._prepare()
        batches = training_batches(
            self.dataset,
            t.batch_size,
            t.seed,
            acc.process_index,
            acc.num_processes,
            num_workers=self.config.data.num_workers,
            pin_memory=acc.device.type == "cuda",
            skip=self.step * t.grad_accum,  # a resumed run goes on where it stopped, not at a new epoch
        )
        acc.print(self._banner(resume))

        log = self.log = MetricLog(self.run_dir / folders.METRICS, acc.is_main_process, truncate_after=self.step)
        tracking.start(acc, f"zoo-{self.spec.name}", self.config.to_dict(), dump(self.config, self.spec.name))
        # Threads, because a CPU run's wall times depend on them as much as on the device.
        self.status = {
            "steps": t.steps,
            "device": str(acc.device),
            "processes": acc.num_processes,
            "threads": torch.get_num_threads(),
            "mixed_precision": t.mixed_precision,
            "seed": t.seed,
        }
        self._set_status("running", message=None)
        watch = NonFiniteWatch()
        images_per_step = t.batch_size * t.grad_accum * acc.num_processes
        bar = tqdm(
            total=t.steps,
            initial=self.step,
            disable=not acc.is_main_process,
            unit="step",
            dynamic_ncols=True,
            mininterval=0.5 if sys.stderr.isatty() else 30,
        )
        last_saved = self.step if resume else -1
        deadline = time.monotonic() + t.time_limit_min * 60 if t.time_limit_min > 0 else float("inf")
        out_of_time, failure = False, None
        with StopRequest() as stop, contextlib.closing(bar):  # closed before any traceback is printed
            while self.step < t.steps and not stop.requested:
                # Every process must agree to stop at the same step, so the main process decides.
                out_of_time = deadline != float("inf") and self._broadcast_flag(time.monotonic() > deadline)
                if out_of_time:
                    break
                values = scalars(self._train_one_step(batches, log))
                self.step += 1
                bar.update(1)
                log.add(values)
                watch.observe(self.step, values)
                log_now = self.step % t.log_every == 0 or self.step == t.steps
                save_now = t.checkpoint_every and self.step % t.checkpoint_every == 0
                if log_now:
                    row = log.flush(self.step, images_per_step)
                    tracking.log_scalars(acc, row, self.step)
                    bar.set_postfix(
                        {
                            k: "nan" if v is None else f"{v:.3g}"
                            for k, v in row.items()
                            if k not in ("step", "elapsed_s")
                        },
                        refresh=False,
                    )
                if (log_now or save_now) and (failure := self._nonfinite(watch, weights=bool(save_now))):
                    break
                if t.sample_every and self.step % t.sample_every == 0:
                    self._preview_and_evaluate(log, bar)
                if save_now:
                    self._save()
                    last_saved = self.step
        if failure is None and self.step != last_saved:
            failure = self._nonfinite(watch, weights=True)
        if failure is not None:
            raise NonFiniteError(failure)
        if self.step != last_saved:
            self._save()
        if not t.sample_every or self.step % t.sample_every:
            self._preview_and_evaluate(log, bar)
        limit = f"train.time_limit_min={t.time_limit_min}"
        if out_of_time:
            acc.print(f"{limit} reached at step {self.step}")
        if stop.requested or out_of_time:
            acc.print(
                f"stopped at step {self.step}; continue with: zoo run {self.spec.name} --out {self.run_dir} --resume"
            )
        why = "Ctrl-C / SIGTERM" if stop.requested else limit if out_of_time else None
        self._set_status("finished" if self.step >= t.steps else "stopped", message=why and f"stopped by {why}")
        return checkpoints.latest(self.run_dir)

    def _nonfinite(self, watch: NonFiniteWatch, weights: bool) -> str | None:
        """Why the run must stop, as one line, if a logged value (or, with `weights`, a weight) is not
        finite on any process; else None. Each process checks its own; all agree on the answer."""
        first = watch.first()
        what = f"{first[1]} was {first[2]} at step {first[0]}" if first else None
        if what is None and weights:
            bad = checkpoints.first_nonfinite_module({**self._unwrapped(), **(self.ema.shadows if self.ema else {})})
            what = bad and f"weight {bad} became non-finite by step {self.step}"
        if not self._on_any_process(what is not None):
            return None
        name, saved = self.spec.name, checkpoints.all_checkpoints(self.run_dir)
        lower = f"lower the learning rate (optim.*, see `zoo describe {name}`)"
        advice = (
            f"{lower} and continue from {saved[-1].name}: zoo run {name} --out {self.run_dir} --resume --set "
            "optim.KEY=VALUE"
            if saved
            else f"no checkpoint was saved before it; {lower} and start again"
        )
        what = what or "another process saw a NaN or an infinity"
        return f"training went non-finite: {what}; stopped at step {self.step} without saving. Fix: {advice}"

    def _on_any_process(self, flag: bool) -> bool:
        if self.accelerator.num_processes == 1:
            return flag
        from accelerate.utils import reduce

        return bool(reduce(torch.tensor([float(flag)], device=self.accelerator.device), "sum").item() > 0)

    def _broadcast_flag(self, flag: bool) -> bool:
        if self.accelerator.num_processes == 1:
            return flag
        from accelerate.utils import broadcast

        return bool(broadcast(torch.tensor([flag], device=self.accelerator.device)).item())

    def _train_one_step(self, batches: Iterator, log: MetricLog | None = None) -> dict[str, torch.Tensor]:
        acc, t = self.accelerator, self.config.train
        modules = list(self.plugin.modules.values())
        for micro in range(t.grad_accum):
            waiting = time.perf_counter()
            batch = to_model_range(send_to_device(next(batches), acc.device))
            if log is not None:
                log.data_seconds += time.perf_counter() - waiting
            torch.manual_seed(step_seed(t.seed, self.step, micro, acc.process_index))
            with acc.accumulate(*modules):  # the log shows the last micro-batch's values
                logs = self.plugin.training_step(batch, AcceleratedStep(self.step, acc, self.optimizers))
        for scheduler in self.lr_schedulers.values():
            scheduler.step()
        if self.ema is not None:
            self.ema.update(self._unwrapped(), self.step)
        return logs

    def _prepare(self) -> None:
        acc = self.accelerator
        names, opt_names = list(self.plugin.modules), list(self.optimizers)
        prepared = acc.prepare(*self.plugin.modules.values(), *self.optimizers.values())
        prepared = prepared if isinstance(prepared, tuple) else (prepared,)
        self.plugin.modules = dict(zip(names, prepared[: len(names)]))
        self.optimizers = dict(zip(opt_names, prepared[len(names) :]))
        self.ema = EMA.of(self.plugin, self._unwrapped(), self.config.train.ema_decay)
        speed.apply(self._unwrapped(), self.config.train)  # after the EMA copies: they sample, as plain modules
        if self.resume_from is not None:
            # Optimizer state goes in after prepare(), which has moved the parameters to the device.
            checkpoints.restore_optimizers(self.resume_from.optimizers, self.optimizers, self.lr_schedulers, acc.scaler)
            if self.ema is not None:
                self.ema.load(self.resume_from.ema)

    # --- run folder ---------------------------------------------------------------------------------
    def _write_config(self, resume: bool) -> None:
        """config.yaml: what this run trains with (on resume, the saved config under any new overrides);
        and on the embedded digits, the drawing it learns from (folders.note_drawing)."""
        if self.accelerator.is_main_process:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.run_dir / folders.CONFIG, dump(self.config, self.spec.name))
            folders.note_drawing(self.run_dir, self.config.data, resume)
        self.accelerator.wait_for_everyone()

    def _load(self) -> None:
        """Restore the newest usable checkpoint (a newer one that does not load is skipped, with a line)."""
        checkpoint, self.resume_from = checkpoints.newest_loadable(self.run_dir)
        for name, module in self.plugin.modules.items():
            load_module_state(module, self.resume_from.modules.get(name, {}), f"checkpoint {checkpoint} ({name})")
        self.step = self.resume_from.step
        if self.step >= self.config.train.steps:
            raise ConfigError(
                f"the run in {self.run_dir} already reached step {self.step} (train.steps={self.config.train.steps}); "
                f"to train longer pass e.g. --set train.steps={self.step * 2}"
            )

    def _save(self) -> None:
        acc = self.accelerator
        acc.wait_for_everyone()
        if acc.is_main_process:
            checkpoints.save(
                self.run_dir,
                self.step,
                modules=self._unwrapped(),
                ema=self.ema.shadows if self.ema else {},
                optimizers=self.optimizers,
                lr_schedulers=self.lr_schedulers,
                scaler=acc.scaler,
                keep=self.config.train.keep_checkpoints,
            )
        acc.wait_for_everyone()

    def _unwrapped(self) -> dict[str, nn.Module]:
        return {name: self.accelerator.unwrap_model(m) for name, m in self.plugin.modules.items()}

    def inference_modules(self) -> dict[str, nn.Module]:
        """The modules sampling should use: the EMA copies where there are any."""
        modules = self._unwrapped()
        if self.ema is not None:
            modules.update(self.ema.shadows)
        return modules

    @torch.no_grad()
    def _preview_and_evaluate(self, log: MetricLog, bar: tqdm) -> None:
        if not self.accelerator.is_main_process:
            return
        with self.plugin.modules_swapped(self.inference_modules()), restored_train_mode(self._unwrapped()):
            images = self.plugin.preview(seed=self.config.train.seed)
            scores = self.plugin.evaluate()
        if images is not None:
            pixels, png = grid_pixels(images), self.run_dir / folders.SAMPLES / f"step_{self.step:06d}.png"
            png.parent.mkdir(parents=True, exist_ok=True)
            save_image(pixels, png)
            tracking.log_grid(self.accelerator, "samples", pixels, png, self.step)
        if scores:
            log.record(self.step, scores)
            tracking.log_scalars(self.accelerator, scores, self.step)
            bar.write(f"step {self.step}: " + ", ".join(f"{k} {v:.4g}" for k, v in scores.items()))

    def _banner(self, resume: bool) -> str:
        t = self.config.train
        data = getattr(self.dataset, "describe", lambda: f"{len(self.dataset)} items")()
        start = f"resuming at step {self.step} of {t.steps}" if resume else f"{t.steps} steps"
        return (
            f"{self.spec.name}: {start}, batch {t.batch_size}x{t.grad_accum}x{self.accelerator.num_processes} "
            f"on {self.accelerator.device} (mixed precision: {t.mixed_precision})\n"
            f"  data: {data}\n  run folder: {self.run_dir}"
        )


@contextlib.contextmanager
def restored_train_mode(modules: dict[str, nn.Module]):
    """Inference switches modules to eval mode; put each back as it was."""
    modes = {name: m.training for name, m in modules.items()}
    try:
        yield
    finally:
        for name, m in modules.items():
            m.train(modes[name])
