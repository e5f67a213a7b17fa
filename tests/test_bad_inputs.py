"""The bad-input sweep of docs/robustness.md: every row of its table is a case here.

Each input either works, or the command ends with exit != 0 and one line that names the problem
and the fix: no traceback (the CLI runs with catch_exceptions=False, so one would fail the test),
and no file left behind that looks complete but is not.
"""

import errno
import pathlib

import numpy as np
import PIL.Image
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from conftest import TINY, reset_accelerate, train_tiny, write_hw2_domain, zoo
from zoo.data.images import decode


def refused(result, *needles, code=1):
    """The command failed with one line (the last) holding every needle."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    last = [line for line in result.output.splitlines() if line.strip()][-1]
    assert last.startswith("Error: "), result.output
    for needle in needles:
        assert needle in last, last
    return last


def worked(result):
    assert result.exit_code == 0, result.output
    return result


# --- images: `zoo run dcgan --set data.root=FOLDER` ---------------------------------------------------


def _solid(mode, size, value):
    return Image.new(mode, size, value)


def _sixteen_bit(path):
    Image.fromarray(np.full((12, 12), 100 * 257, dtype=np.uint16)).save(path)  # grey 100 of 255


def _palette(path):
    image = Image.new("P", (12, 12), 0)
    image.putpalette([100, 100, 100] * 256)
    image.save(path)


def _truncated(path):
    _solid("RGB", (32, 32), (100, 100, 100)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


IMAGE_ROWS = {
    # name: (file name, how to make it, expected mean grey value of the decoded image or None for an error)
    "zero-byte": ("odd.png", lambda p: p.write_bytes(b""), None),
    "truncated PNG": ("odd.png", _truncated, None),
    "not an image": ("odd.png", lambda p: p.write_text("hello"), None),
    "grayscale": ("odd.png", lambda p: _solid("L", (12, 12), 100).save(p), 100),
    "RGBA": ("odd.png", lambda p: _solid("RGBA", (12, 12), (100, 100, 100, 50)).save(p), 100),
    "palette": ("odd.png", _palette, 100),
    "16-bit": ("odd.png", _sixteen_bit, 100),
    "CMYK JPEG": ("odd.jpg", lambda p: _solid("CMYK", (12, 12), (0, 0, 0, 155)).save(p), 100),
    "1x1": ("odd.png", lambda p: _solid("RGB", (1, 1), (100, 100, 100)).save(p), 100),
    "4000x4000": ("odd.png", lambda p: _solid("RGB", (4000, 4000), (100, 100, 100)).save(p), 100),
    "a folder named x.png": ("odd.png", lambda p: p.mkdir(), None),
}


@pytest.mark.parametrize("row", list(IMAGE_ROWS))
def test_images(row, tmp_path, image_folder):
    name, make, grey = IMAGE_ROWS[row]
    odd = image_folder / name
    make(odd)
    result = zoo(
        "run", "dcgan", *TINY, "--set", "train.steps=1", "--set", f"data.root={image_folder}", "--out", tmp_path / "run"
    )
    if odd.is_dir():  # not an image: skipped, the other 24 train
        worked(result)
        assert "24 images" in result.output
    elif grey is None:
        refused(result, f"cannot read image {odd}", "remove or replace the file")
    else:
        worked(result)
        assert "25 images" in result.output
        assert abs(decode(odd, 16).float().mean().item() - grey) <= 2  # not white, not black, not clipped


# --- label CSVs: `zoo run digit_classifier --set data.root=DOMAIN` --------------------------------------


def _rows(csv):
    return csv.read_text().splitlines()


def _first_label(csv, label):
    header, first, *rest = _rows(csv)
    csv.write_text("\n".join([header, first.split(",")[0] + "," + label, *rest]) + "\n")


CSV_ROWS = {
    # name: (change to train.csv, None if it works or the words of the error)
    "missing column": (
        lambda c: c.write_text(c.read_text().replace("image_name,label", "image_name,digit")),
        ["train.csv must be a CSV with the header 'image_name,label'"],
    ),
    "extra column": (
        lambda c: c.write_text("\n".join([_rows(c)[0] + ",note"] + [row + ",x" for row in _rows(c)[1:]]) + "\n"),
        None,
    ),
    "label out of range": (lambda c: _first_label(c, "12"), ["train.csv line 2: label '12' of 00000.png", "0..9"]),
    "non-integer label": (
        lambda c: _first_label(c, "3.5"),
        ["train.csv line 2: label '3.5'", "not a whole number in 0..9"],
    ),
    "byte-order mark": (lambda c: c.write_bytes(b"\xef\xbb\xbf" + c.read_bytes()), None),
    "CRLF line ends": (lambda c: c.write_bytes(c.read_bytes().replace(b"\n", b"\r\n")), None),
    "duplicate names": (
        lambda c: c.write_text(c.read_text() + _rows(c)[1] + "\n"),
        ["train.csv lists 00000.png twice (lines 2 and 18)", "keep one row"],
    ),
    "listed file missing": (
        lambda c: c.write_text(c.read_text() + "missing.png,3\n"),
        ["train.csv lists missing.png, not found in", "fix the CSV or add the files"],
    ),
}


@pytest.mark.parametrize("row", list(CSV_ROWS))
def test_label_csvs(row, tmp_path):
    from zoo.data.embedded import mnistm_style_digits

    images, labels = mnistm_style_digits(28)
    domain = tmp_path / "digits" / "mnistm"
    write_hw2_domain(domain, images[:24].permute(0, 2, 3, 1).numpy(), labels[:24].tolist(), 16)
    change, error = CSV_ROWS[row]
    change(domain / "train.csv")
    result = zoo(
        "run",
        "digit_classifier",
        "--set",
        f"data.root={domain}",
        "--set",
        "train.steps=1",
        "--set",
        "train.batch_size=8",
        "--set",
        "model.width=4",
        "--set",
        "train.sample_every=0",
        "--out",
        tmp_path / "run",
    )
    if error is None:
        worked(result)
    else:
        refused(result, *error)


def test_prediction_csvs_are_read_by_the_same_rules(tmp_path):
    labels, predicted = tmp_path / "val.csv", tmp_path / "pred.csv"
    labels.write_bytes(b"\xef\xbb\xbfimage_name,label\r\na.png,1\r\nb.png,2\r\n")
    predicted.write_text("image_name,label\na.png,1\nb.png,3\n")
    assert (
        "accuracy 50.00% (1/2)" in worked(zoo("eval", "adapt", "--predictions", predicted, "--labels", labels)).output
    )
    predicted.write_text("image_name,label\na.png,1\nb.png,-3\n")
    refused(zoo("eval", "adapt", "--predictions", predicted, "--labels", labels), "label '-3'")


# --- configs: `zoo run dcgan --config FILE` -------------------------------------------------------------

CONFIG_ROWS = {
    "wrong type": ("train:\n  steps: many\n", ["'train.steps' expects an integer"]),
    "empty file": ("", None),
    "a YAML list": ("- train\n- steps\n", ["must hold a mapping of config keys, not a list"]),
    "unknown key": ("train:\n  stepz: 3\n", ["unknown config key 'train.stepz'", "did you mean 'train.steps'"]),
    "a value for a section": ("train: 3\n", ["'train' is a section"]),
    "not text": (b"\x89PNG\r\n\x1a\n\x00\xff\xfe", ["is not valid YAML"]),
}


@pytest.mark.parametrize("row", list(CONFIG_ROWS))
def test_configs(row, tmp_path):
    content, error = CONFIG_ROWS[row]
    config = tmp_path / "config.yaml"
    config.write_bytes(content) if isinstance(content, bytes) else config.write_text(content)
    result = zoo("run", "dcgan", "--config", config, *TINY, "--set", "train.steps=1", "--out", tmp_path / "run")
    if error is None:
        worked(result)
    else:
        refused(result, *error)
        assert not (tmp_path / "run").exists()  # a bad config claims no run folder


# --- weights: `zoo sample --weights FILE` ----------------------------------------------------------------


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("weights")
    train_tiny(tmp / "run", 1)
    assert zoo("export", tmp / "run", "--out", tmp / "dcgan.safetensors").exit_code == 0
    reset_accelerate()
    return tmp / "dcgan.safetensors"


def _rewritten(good, path, change_tensors=lambda t: t, change_metadata=lambda m: m):
    from zoo.sharing.weights import load_tensors

    tensors, metadata = load_tensors(good)
    save_file(change_tensors(tensors), str(path), metadata=change_metadata(dict(metadata)))


def _with_nan(tensors):
    name = sorted(tensors)[0]
    tensors[name] = tensors[name].clone()
    tensors[name].view(-1)[0] = float("nan")
    return tensors


WEIGHT_ROWS = {
    "truncated": (
        lambda good, p: p.write_bytes(good.read_bytes()[: good.stat().st_size // 2]),
        ["not a readable .safetensors file"],
    ),
    "a pickle": (lambda good, p: torch.save({"weight": torch.zeros(2)}, p), ["not a readable .safetensors file"]),
    "another plugin's": (None, ["holds weights for plugin 'dcgan', not 'sagan'"]),
    "another format version": (
        lambda good, p: _rewritten(good, p, change_metadata=lambda m: {**m, "format": "zoo.weights.v0"}),
        ["is in format zoo.weights.v0", "re-export"],
    ),
    "non-finite values": (
        lambda good, p: _rewritten(good, p, change_tensors=_with_nan),
        ["holds non-finite weights", "zoo export RUN --step N"],
    ),
}


@pytest.mark.parametrize("row", list(WEIGHT_ROWS))
def test_weight_files(row, weights, tmp_path):
    make, error = WEIGHT_ROWS[row]
    path = weights
    if make is not None:
        path = tmp_path / "bad.safetensors"
        make(weights, path)
    name = ["sagan"] if row == "another plugin's" else []
    refused(zoo("sample", *name, "--weights", path, "-n", 4, "--out", tmp_path / "out"), *error)
    assert not (tmp_path / "out").exists()


def test_weights_of_another_plugin_version_load_with_a_warning(weights, tmp_path):
    path = tmp_path / "old.safetensors"
    _rewritten(weights, path, change_metadata=lambda m: {**m, "plugin_version": "0.0.1"})
    result = worked(zoo("sample", "--weights", path, "-n", 4, "--out", tmp_path / "out"))
    assert "warning: " in result.output and "0.0.1" in result.output
    assert len(list((tmp_path / "out").iterdir())) == 4


# --- the command line: `zoo sample ... --out` -------------------------------------------------------------


def test_negative_count(weights, tmp_path):
    refused(zoo("sample", "--weights", weights, "-n", -3, "--out", tmp_path / "out"), "-n must be at least 1, got -3")


def test_out_is_a_file(weights, tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("mine")
    refused(zoo("sample", "--weights", weights, "-n", 4, "--out", taken), "is a file", code=2)
    assert taken.read_text() == "mine"


def test_out_inside_a_file(weights, tmp_path):
    (tmp_path / "taken").write_text("mine")
    refused(
        zoo("sample", "--weights", weights, "-n", 4, "--out", tmp_path / "taken" / "out"),
        "Not a directory",
        "part of the path is a file",
    )


def _failing_save(monkeypatch, failure, after: int):
    """Image writes fail from the (after+1)-th on, half-way through writing the file."""
    real_save, calls = PIL.Image.Image.save, []

    def save(self, fp, *args, **kwargs):
        calls.append(fp)
        if len(calls) > after:
            with open(fp, "wb") as f:
                f.write(b"\x89PNG\r\n\x1a\n")  # a beginning, then the disk fails
            raise OSError(failure, __import__("os").strerror(failure), str(fp))
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(PIL.Image.Image, "save", save)


@pytest.mark.parametrize(
    "failure, words",
    [
        (errno.EACCES, "Permission denied: {out}/0002.png; no permission"),
        (errno.ENOSPC, "No space left on device: {out}/0002.png; the disk is full"),
    ],
)
def test_unwritable_out_and_full_disk_leave_only_whole_images(failure, words, weights, tmp_path, monkeypatch):
    _failing_save(monkeypatch, failure, after=2)
    out = tmp_path / "out"
    refused(zoo("sample", "--weights", weights, "-n", 5, "--out", out), words.format(out=out))
    assert sorted(p.name for p in out.iterdir()) == ["0000.png", "0001.png"]  # no cut-short 0002.png, no temporary file
    for path in out.iterdir():
        Image.open(path).load()


def test_an_eval_json_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    labels, result_json = tmp_path / "val.csv", tmp_path / "r.json"
    labels.write_text("image_name,label\na.png,1\n")
    real_write = pathlib.Path.write_text

    def write_half_then_fail(self, text, *args, **kwargs):
        real_write(self, text[: len(text) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(self))

    monkeypatch.setattr(pathlib.Path, "write_text", write_half_then_fail)
    refused(
        zoo("eval", "adapt", "--predictions", labels, "--labels", labels, "--json", result_json),
        f"{result_json}; the disk is full",
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["val.csv"]  # no r.json cut short, no temporary file
