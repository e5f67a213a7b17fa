"""Precision, recall, density and coverage (zoo.metrics.manifold) on features with known answers."""

import numpy as np
import pytest

from zoo.errors import DataError
from zoo.metrics.manifold import precision_recall_density_coverage


def by_hand(real, fake, k):
    """The four figures straight from their definitions (prdc's), with full distance matrices."""

    def dist(a, b):
        return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))

    real_radii = np.sort(dist(real, real), axis=1)[:, k]
    fake_radii = np.sort(dist(fake, fake), axis=1)[:, k]
    d = dist(real, fake)
    return {
        "precision": (d < real_radii[:, None]).any(0).mean(),
        "recall": (d < fake_radii[None, :]).any(1).mean(),
        "density": (d < real_radii[:, None]).sum(0).mean() / k,
        "coverage": (d.min(1) < real_radii).mean(),
    }


def test_the_four_figures_match_their_definitions():
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(300, 16)), rng.normal(0.3, 1.2, size=(200, 16))
    ours = precision_recall_density_coverage(real, fake, k=5)
    for name, value in by_hand(real, fake, 5).items():
        assert ours[name] == pytest.approx(value, abs=1e-9), name
    assert 0 < ours["precision"] < 1 and 0 < ours["recall"] < 1  # a test that could tell them apart


def test_identical_sets_score_one():
    real = np.random.default_rng(1).normal(size=(400, 32)).astype(np.float32)
    figures = precision_recall_density_coverage(real, real.copy())
    assert figures["precision"] == figures["recall"] == figures["coverage"] == 1.0
    assert figures["density"] == pytest.approx(1.0)
    assert figures["nearest_k"] == 5


def test_a_collapsed_generator_has_precision_but_no_recall_or_coverage():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(500, 32))
    # 500 fakes, all near 4 of the real images: realistic, but no variety.
    fake = real[rng.integers(0, 4, 500)] + rng.normal(scale=1e-3, size=(500, 32))
    figures = precision_recall_density_coverage(real, fake)
    assert figures["precision"] == 1.0
    assert figures["recall"] < 0.05 and figures["coverage"] < 0.05
    assert figures["density"] > 1  # crowding: each fake sits in its real image's ball and its neighbours'


def test_too_few_images_is_a_data_error_that_says_how_many():
    with pytest.raises(DataError, match="need more than 5 real and 5 generated images; got 10 and 5"):
        precision_recall_density_coverage(np.zeros((10, 4)), np.zeros((5, 4)))
