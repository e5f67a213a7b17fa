"""zoo.metrics.digits: generated digits read by an evaluator, and their Frechet distance to real ones."""

import pytest
import torch
from PIL import Image


def test_digit_scorer_reads_labels_from_names_resizes_and_measures_distance(tmp_path):
    from zoo.config import Config
    from zoo.data.digits import DigitDomain, load_image_folder
    from zoo.data.pixels import uint8_to_model_range
    from zoo.errors import DataError
    from zoo.interfaces import Classifier
    from zoo.metrics.digits import DigitScorer, labels_from_names

    class Brightness(Classifier):
        """Reads an image's digit from its brightness: d -> grey level 20 d."""

        def build_modules(self):
            return {}

        configure_optimizers = train_dataset = training_step = lambda *a: None

        def predict(self, images):
            assert images.shape[-1] == 8, "the scorer resizes to the evaluator's input size"
            return ((images.mean((1, 2, 3)) + 1) * 127.5 / 20).round().long()

        def embed(self, images):
            m = images.mean((1, 2, 3))
            return torch.stack([m, m**2, m**3], 1)

    classifier = Brightness(Config({"data": {"image_size": 8}}))
    folder = tmp_path / "gen"
    folder.mkdir()
    for d in range(10):
        for k, level in enumerate((20 * d, 20 * d, 20 * ((d + 1) % 10))):  # the third of each digit is wrong
            Image.new("RGB", (8, 8), (level,) * 3).save(folder / f"{d}_{k + 1:03d}.png")
    result = DigitScorer(classifier).folder_accuracy(folder)
    assert result["count"] == 30 and result["correct"] == 20
    assert result["per_digit"]["4"] == pytest.approx(2 / 3)
    with pytest.raises(DataError, match="must start with it"):
        labels_from_names(["0_001.png", "sample.png"])

    read = load_image_folder(folder, 8)
    real = DigitDomain("gen", "val", read.images, labels_from_names(read.names), read.names, str(folder))
    images = uint8_to_model_range(read.images)
    scorer = DigitScorer(classifier, real, batch_size=7)  # chunks that do not divide the count
    larger = torch.nn.functional.interpolate(images, size=(16, 16), mode="nearest")
    assert scorer.accuracy(larger, real.labels)["correct"] == 20
    assert scorer.frechet_distance(images) == pytest.approx(0.0, abs=1e-6)
    assert scorer.frechet_distance(images * 0.5) > 0.01  # dimmer digits are further from the real ones
