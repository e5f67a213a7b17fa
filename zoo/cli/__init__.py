"""The `zoo` command line. It parses and prints; the work is done by the modules it calls, and every
command speaks to plugins through their family interface only.

    train.py     list, describe, run, export
    use.py       sample, inspect, predict
    evaluate.py  eval fid | faces | digits | adapt
    bench.py     benchmark, plugin new
    watch.py     runs, plot

Each command imports the zoo modules it runs inside its own body: they import torch (about 2 s), and
deferring them lets `zoo --help` and a mistyped option answer at once. That is the one place zoo
imports its own modules inside functions.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import warnings

import click

from zoo.cli import bench, evaluate, train, use, watch
from zoo.errors import ZooError, ZooWarning, os_error_line
from zoo.files import interrupt_or_defer


class ZooGroup(click.Group):
    """Turns ZooError (bad input, missing files, ...) and OSError (full disk, no permission) into a
    one-line message and exit code 1, zoo's warnings into one line each, and SIGTERM into the same
    clean stop as Ctrl-C (so that files being written are finished or removed, never left cut short)."""

    def invoke(self, ctx):
        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, ZooWarning):
                click.echo(f"warning: {message}", err=True)
            else:
                default_show(message, category, filename, lineno, file, line)

        default_show = warnings.showwarning
        warnings.showwarning = show
        main_thread = threading.current_thread() is threading.main_thread()
        # Ctrl-C and SIGTERM: KeyboardInterrupt, held back while a file is half-written (zoo.files).
        stops = (signal.SIGINT, signal.SIGTERM)
        defaults = {sig: signal.signal(sig, interrupt_or_defer) for sig in stops} if main_thread else {}
        try:
            return super().invoke(ctx)
        except BrokenPipeError:  # `zoo ... | head`: the reader has all it wanted
            sys.stderr = open(os.devnull, "w")
            raise SystemExit(0) from None
        except (ZooError, OSError) as exc:
            if ctx.params.get("debug"):
                import traceback

                click.echo(
                    getattr(exc, "details", None) or "".join(traceback.format_exception(exc)), err=True, nl=False
                )
            raise click.ClickException(str(exc) if isinstance(exc, ZooError) else os_error_line(exc)) from None
        finally:
            warnings.showwarning = default_show
            for sig, handler in defaults.items():
                signal.signal(sig, handler)


def show_versions(ctx, _param, value):
    if not value or ctx.resilient_parsing:
        return
    from zoo.registry import versions

    rows = versions()
    width = max(len(name) for name, _ in rows)
    for name, version in rows:
        click.echo(f"{name:<{width}}  {version}")
    ctx.exit()


@click.group(cls=ZooGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=show_versions,
    help="Print the versions of zoo, Python, torch, accelerate, diffusers and every plugin (for bug reports).",
)
@click.option("--debug", is_flag=True, help="On an error, print the full traceback before its one-line message.")
def cli(debug):
    """Train, sample, compare and share the DLCV HW2 models: GANs, conditional diffusion, DANN.

    \b
    zoo list                       what plugins exist
    zoo describe dcgan             architecture, parameter counts, config keys
    zoo run dcgan                  train (embedded digits, no download)
    zoo runs                       the runs under runs/: status, steps, last metrics
    zoo plot runs/dcgan runs/sagan curves of their logged metrics, overlaid
    zoo export runs/dcgan --out dcgan.safetensors
    zoo sample dcgan --weights dcgan.safetensors -n 1000 --out out/
    zoo benchmark --all --quick    every plugin trained and measured, ~3 min on 2 CPU cores
    zoo plugin new my_vae          start your own plugin (see CONTRIBUTING.md)
    """


for command in (
    train.list_plugins,
    train.describe,
    train.run,
    train.export,
    use.sample,
    use.inspect,
    use.predict,
    evaluate.evaluate,
    bench.benchmark,
    bench.plugin_group,
    watch.runs,
    watch.plot,
):
    cli.add_command(command)


def main():
    cli(prog_name="zoo")
