"""zoo.diffaugment: DiffAugment's transforms (Zhao et al. 2020)."""

import pytest
import torch


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_diffaugment_keeps_shapes_changes_images_and_lets_gradients_through(policy):
    from zoo.diffaugment import diff_augment, parse_policy

    torch.manual_seed(0)
    x = (torch.rand(6, 3, 16, 16) * 2 - 1).requires_grad_(True)
    out = diff_augment(x, parse_policy(policy))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert not torch.allclose(out, x)
    out.square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_diffaugment_transforms_do_what_they_say():
    from zoo.diffaugment import cutout, translation

    torch.manual_seed(0)
    x = torch.ones(64, 3, 16, 16)
    # Cutout zeroes one 8x8 square per image, clipped at the border: at most a quarter of the pixels.
    zeroed = (cutout(x) == 0).float().mean(dim=(1, 2, 3))
    assert (zeroed > 0).all() and (zeroed <= 0.25 + 1e-6).all() and (zeroed == 0.25).any()
    # Translation moves content by at most 2 pixels (1/8 of 16) and fills with zeros.
    marked = torch.zeros(64, 1, 16, 16)
    marked[:, :, 8, 8] = 1.0
    moved = translation(marked)
    rows, cols = moved[:, 0].flatten(1).argmax(1) // 16, moved[:, 0].flatten(1).argmax(1) % 16
    assert (
        ((rows - 8).abs() <= 2).all()
        and ((cols - 8).abs() <= 2).all()
        and len(set(zip(rows.tolist(), cols.tolist()))) > 5
    )
