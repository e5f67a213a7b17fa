"""Pictures: image files, grids."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.utils import make_grid

from zoo.files import atomic_write
from zoo.metrics.accuracy import features


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8, (N, C, H, W) -> (N, H, W, C)."""
    return images.detach().cpu().float().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1)


def hw2_names(n: int) -> list[str]:
    """HW2 file names: 0000.png, 0001.png, ... (wider if n needs more digits)."""
    width = max(4, len(str(n - 1)))
    return [f"{i:0{width}d}.png" for i in range(n)]


def class_names(classes: int, per_class: int) -> list[str]:
    """HW2 names of class-conditional samples: 0_001.png ... 9_100.png (first character = class)."""
    width = max(3, len(str(per_class)))
    return [f"{c}_{k:0{width}d}.png" for c in range(classes) for k in range(1, per_class + 1)]


def pil_image(pixels: np.ndarray) -> Image.Image:
    """One (H, W, C) uint8 image as PIL's: RGB, or L for one channel."""
    return Image.fromarray(pixels.squeeze(-1) if pixels.shape[-1] == 1 else pixels)


def to_pil(images: torch.Tensor) -> list[Image.Image]:
    """Images (N, C, H, W) in [-1, 1], as zoo's models return them, as N PIL images."""
    return [pil_image(pixels) for pixels in to_uint8(images).numpy()]


def grid(images: torch.Tensor, nrow: int | None = None) -> Image.Image:
    """Images (N, C, H, W) in [-1, 1] as one PIL image (`grid_pixels`)."""
    return pil_image(grid_pixels(images, nrow))


def save_image(pixels: np.ndarray, path: Path) -> None:
    """One (H, W, C) uint8 image, written whole or not at all: a crash, a full disk or a SIGTERM
    mid-write never leaves a cut-short file under the real name."""
    image = pil_image(pixels)
    atomic_write(
        path, lambda tmp: image.save(tmp, format=Image.registered_extensions().get(path.suffix.lower(), "PNG"))
    )


def save_images(images: torch.Tensor, folder: str | Path, names: Sequence[str]) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for pixels, name in zip(to_uint8(images).numpy(), names, strict=True):
        save_image(pixels, folder / name)
        paths.append(folder / name)
    return paths


def grid_pixels(images: torch.Tensor, nrow: int | None = None) -> np.ndarray:
    """The images in rows of `nrow` (default: as square as possible), 2px padding, as one (H, W, C) uint8 picture."""
    nrow = nrow or math.ceil(math.sqrt(len(images)))
    grid = make_grid(images.detach().cpu().float(), nrow=nrow, padding=2, pad_value=1.0)
    return to_uint8(grid.unsqueeze(0))[0].numpy()


def save_grid(images: torch.Tensor, path: str | Path, nrow: int | None = None) -> Path:
    """One PNG of `grid_pixels`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(grid_pixels(images, nrow), path)
    return path


def save_class_grid(images: torch.Tensor, classes: int, path: str | Path, columns: int = 10) -> Path:
    """Class-major images (all of class 0, then class 1, ...) as a grid: one row per class, its first
    `columns` images across."""
    by_class = images.view(classes, len(images) // classes, *images.shape[1:])[:, :columns]
    return save_grid(by_class.flatten(0, 1), path, nrow=by_class.shape[1])


def save_strip(frames: torch.Tensor, captions: Sequence[str], path: str | Path, scale: int = 4) -> Path:
    """Images in [-1, 1] side by side, each enlarged `scale` times (nearest) with its caption below."""
    from PIL import ImageDraw

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = to_uint8(frames).numpy()
    h, w = pixels.shape[1] * scale, pixels.shape[2] * scale
    pad, caption_height = 4, 16
    strip = Image.new("RGB", (len(pixels) * (w + pad) + pad, h + 2 * pad + caption_height), "white")
    draw = ImageDraw.Draw(strip)
    for i, (image, caption) in enumerate(zip(pixels, captions, strict=True)):
        tile = pil_image(image).resize((w, h), Image.NEAREST)
        left = pad + i * (w + pad)
        strip.paste(tile, (left, pad))
        draw.text((left + 2, h + pad + 2), caption, fill="black")
    atomic_write(path, lambda tmp: strip.save(tmp, format="PNG"))
    return path


def tsne_plots(
    features: torch.Tensor,
    classes: torch.Tensor,
    domains: torch.Tensor,
    domain_names: Sequence[str],
    out_dir: str | Path,
    title: str,
    seed: int = 0,
) -> list[Path]:
    """Two t-SNE scatter plots of the same 2-D embedding: coloured by digit class and by domain."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    x = features.float().numpy()
    # PCA to 50 dimensions first: the usual speed-up, and it removes noise before the neighbour search.
    x = PCA(n_components=min(50, *x.shape), random_state=seed).fit_transform(x)
    xy = TSNE(n_components=2, init="pca", perplexity=min(30.0, (len(x) - 1) / 3), random_state=seed).fit_transform(x)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for kind, values, names, cmap in (
        ("class", classes, [str(i) for i in range(10)], "tab10"),
        ("domain", domains, list(domain_names), "coolwarm"),
    ):
        fig, ax = plt.subplots(figsize=(6, 6), dpi=120)
        colours = plt.get_cmap(cmap)(np.linspace(0, 1, len(names)) if kind == "domain" else np.arange(10))
        for index, name in enumerate(names):
            mask = values.numpy() == index
            ax.scatter(xy[mask, 0], xy[mask, 1], s=3, color=colours[index], label=name, alpha=0.7)
        ax.set_title(f"{title}: by {kind}")
        ax.set_xticks([]), ax.set_yticks([])
        ax.legend(markerscale=4, fontsize=8, loc="best", ncols=2 if kind == "class" else 1)
        fig.tight_layout()
        path = out_dir / f"tsne_{kind}.png"
        atomic_write(path, lambda tmp, fig=fig: fig.savefig(tmp, format="png"))
        plt.close(fig)
        paths.append(path)
    return paths


def adaptation_tsne(adapter, source, target, out_dir: str | Path, points: int = 1000, seed: int = 0) -> list[Path]:
    """t-SNE of an Adapter's features for up to `points` images of each of two DigitDomains."""

    picked = [torch.randperm(len(d), generator=torch.Generator().manual_seed(seed))[:points] for d in (source, target)]
    feats = torch.cat([features(adapter, d.images[i]) for d, i in zip((source, target), picked)])
    classes = torch.cat([d.labels[i] for d, i in zip((source, target), picked)])
    domains = torch.cat([torch.full((len(i),), k) for k, i in enumerate(picked)])
    title = f"{source.name} -> {target.name}"
    return tsne_plots(
        feats, classes, domains, [f"{source.name} (source)", f"{target.name} (target)"], out_dir, title, seed
    )
