"""train.channels_last and train.compile: the same training steps, in another layout or compiled."""

import json

import pytest
import torch
from functorch.compile import make_boxed_func
from torch._dynamo import register_backend
from torch._dynamo.backends.common import aot_autograd

from conftest import TINY, final_state, zoo
from zoo.bench.plain_loop import PlainLoop
from zoo.registry import Registry

GRAPHS: list[str] = []


def _record(graph_module, example_inputs):
    GRAPHS.append(str(graph_module.graph))
    return make_boxed_func(graph_module.forward)


@register_backend
def zoo_test_recorder(graph_module, example_inputs):
    """aot_eager that records each forward graph: AOTAutograd, as inductor uses it, without codegen."""
    return aot_autograd(fw_compiler=_record)(graph_module, example_inputs)


def train(run, plugin: str, *overrides: str) -> list[dict]:
    sets = [arg for item in overrides for arg in ("--set", item)]
    result = zoo("run", plugin, *TINY, "--set", "train.steps=3", "--set", "model.latent_dim=8", *sets, "--out", run)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def assert_same_run(a: list[dict], b: list[dict], run_a, run_b, tol: float) -> None:
    for row_a, row_b in zip(a, b, strict=True):
        for key in ("loss_d", "loss_g", "gradient_penalty"):
            if key in row_a:
                assert row_b[key] == pytest.approx(row_a[key], rel=tol, abs=tol), (row_a["step"], key)
    (weights_a, _), (weights_b, _) = final_state(run_a), final_state(run_b)
    assert weights_a.keys() == weights_b.keys()  # checkpoints and exports name parameters alike
    for key in weights_a:
        assert torch.allclose(weights_a[key], weights_b[key], rtol=tol, atol=tol), key


def test_channels_last_trains_the_same_steps(tmp_path):
    plain = train(tmp_path / "plain", "dcgan")
    nhwc = train(tmp_path / "nhwc", "dcgan", "train.channels_last=true")
    assert_same_run(plain, nhwc, tmp_path / "plain", tmp_path / "nhwc", tol=1e-4)


def test_channels_last_puts_the_weights_and_activations_in_nhwc():
    spec = Registry.discover().get("dcgan")
    config = spec.config(spec.read_configs([]), ["data.image_size=16", "train.channels_last=true"])
    loop = PlainLoop(spec, config, torch.device("cpu"))
    generator = loop.plugin.modules["generator"]
    convs = [p for p in generator.parameters() if p.dim() == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    hidden = generator.main[:-1](torch.randn(2, config.model.latent_dim, 1, 1))
    assert hidden.is_contiguous(memory_format=torch.channels_last) and not hidden.is_contiguous()


def test_compile_runs_compiled_graphs_and_the_gradient_penalty_stays_exact(tmp_path):
    # WGAN-GP differentiates D's input gradient: a compiled graph cannot be differentiated twice, so
    # the penalty's pass runs D's plain forward (speed.eager) while the others run compiled.
    GRAPHS.clear()
    eager = train(tmp_path / "eager", "wgan_gp", "gan.n_critic=2")
    recorded = ("train.compile=true", "train.compile_backend=zoo_test_recorder")
    compiled = train(tmp_path / "compiled", "wgan_gp", "gan.n_critic=2", *recorded)
    assert GRAPHS, "train.compile compiled nothing"
    assert_same_run(eager, compiled, tmp_path / "eager", tmp_path / "compiled", tol=1e-5)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (("train.compile=true", "train.compile_backend=no_such_backend"), "train.compile_backend must be a torch"),
        (("train.channels_last=maybe",), "train.channels_last' expects true/false"),
    ],
)
def test_a_wrong_value_is_a_config_error(tmp_path, overrides, message):
    sets = [arg for item in overrides for arg in ("--set", item)]
    result = zoo("run", "dcgan", *TINY, *sets, "--out", tmp_path / "run")
    assert result.exit_code != 0
    assert message in result.output
    assert not (tmp_path / "run" / "checkpoints").exists()
