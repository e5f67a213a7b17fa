"""The LSGAN plugin keeps zoo's plugin contract, and its loss is the paper's."""

import torch
from zoo_lsgan.plugin import least_squares_discriminator, least_squares_generator

from zoo.testing import check_plugin


def test_lsgan_keeps_the_zoo_contract(tmp_path):
    check_plugin("lsgan", tmp_path, overrides=["train.batch_size=8", "model.width=8"])


def test_least_squares_targets():
    ones, zeros = torch.ones(4), torch.zeros(4)
    assert least_squares_discriminator(ones, zeros) == 0  # D already right: no loss
    assert least_squares_discriminator(zeros, ones) == 1.0  # 1/2 (1 + 1)
    assert least_squares_generator(ones) == 0 and least_squares_generator(zeros) == 0.5
