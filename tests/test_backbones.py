"""model.backbone: digit_classifier and dann take any timm feature extractor by name, adapted to 28x28."""

import pytest
import torch
from torch import nn

from conftest import zoo
from zoo.errors import ConfigError
from zoo.nn import timm_backbone
from zoo.testing import check_plugin


def test_a_resnet_gets_a_small_image_stem_and_returns_one_vector_per_image():
    net, width = timm_backbone("resnet18", 28)
    assert type(net).__name__ == "ResNet" and width == 512
    assert (net.conv1.kernel_size, net.conv1.stride) == ((3, 3), (1, 1)) and isinstance(net.maxpool, nn.Identity)
    # Without the change, layer4 of resnet18 would see a 1x1 map; now it sees 4x4.
    seen = []
    net.layer4.register_forward_hook(lambda _m, _i, out: seen.append(out.shape[-1]))
    assert net(torch.zeros(3, 3, 28, 28)).shape == (3, 512) and seen == [4]
    deep, _ = timm_backbone("resnet10t", 28)  # a three-conv stem: every conv in it at stride 1
    assert [m.stride for m in deep.conv1.modules() if isinstance(m, nn.Conv2d)] == [(1, 1)] * 3
    assert isinstance(deep.maxpool, nn.Identity)


def test_a_backbone_that_cannot_be_used_is_a_config_error():
    with pytest.raises(ConfigError, match="'resnet81' is not a timm model; did you mean resnet18"):
        timm_backbone("resnet81", 28)
    with pytest.raises(ConfigError, match="'vit_tiny_patch16_224' does not take 28x28 images"):
        timm_backbone("vit_tiny_patch16_224", 28)


def test_digit_classifier_with_a_timm_backbone_trains_exports_and_predicts(tmp_path):
    # check_plugin: trains, exports, reloads and predicts the same labels.
    check_plugin("digit_classifier", tmp_path, overrides=["model.backbone=resnet10t", "train.batch_size=16"], steps=2)
    shown = zoo("describe", "digit_classifier", "--set", "model.backbone=resnet10t")
    assert shown.exit_code == 0, shown.output
    assert "(features): ResNet(" in shown.output and "(maxpool): Identity()" in shown.output
    line = zoo("run", "digit_classifier", "--set", "model.backbone=resnet81", "--out", tmp_path / "bad")
    assert line.exit_code == 1 and "not a timm model" in line.output and "Traceback" not in line.output


def test_dann_with_a_timm_backbone_adapts(tmp_path):
    check_plugin("dann", tmp_path, overrides=["model.backbone=resnet10t", "train.batch_size=16"], steps=2)
