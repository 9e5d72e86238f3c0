"""Images as token sequences, for chapter 11's answer to the article's §6 Q2 (NLP vs computer
vision): cut an image into square patches (the tokens of a vision Transformer, Dosovitskiy et al.,
2021) and a tiny synthetic image task that needs no download.

Shapes: ``B`` images, ``H x W`` pixels, ``P`` the patch side, ``N = (H / P) (W / P)`` patches.

>>> image_patches(torch.arange(16.0).view(1, 4, 4), 2)[0, 1].tolist()
[2.0, 3.0, 6.0, 7.0]
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["SHAPES", "image_patches", "shape_images"]

SHAPES = ("horizontal bar", "vertical bar", "diagonal", "square")


def image_patches(images: Tensor, size: int) -> Tensor:
    """``(B, H, W) -> (B, N, size * size)``: non-overlapping ``size x size`` squares, read left
    to right then top to bottom (row-major), each flattened row by row."""
    if images.dim() != 3:
        raise ValueError(f"image_patches takes (B, H, W) images, got shape {tuple(images.shape)}.")
    b, h, w = images.shape
    if h % size or w % size:
        raise ValueError(
            f"image_patches: {h} x {w} images do not divide into {size} x {size} patches."
        )
    x = images.reshape(b, h // size, size, w // size, size)  # (B, H/P, P, W/P, P)
    return x.permute(0, 1, 3, 2, 4).reshape(b, (h // size) * (w // size), size * size)


def shape_images(n: int, side: int = 8, noise: float = 0.3, seed: int = 0) -> tuple[Tensor, Tensor]:
    """``n`` noisy ``side x side`` images of one of :data:`SHAPES` each, drawn at a random place,
    and their labels: ``(images (n, side, side), labels (n,))``, balanced, reproducible by seed.

    A bar is 4 pixels long, the diagonal 4 pixels, the square 2 x 2 (4 pixels too), so every class
    has the same ink and only the arrangement tells them apart.
    """
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % len(SHAPES)
    labels = labels[torch.randperm(n, generator=g)]
    images = noise * torch.randn(n, side, side, generator=g)
    offsets = {0: (1, 4), 1: (4, 1), 2: (4, 4), 3: (2, 2)}  # the shape's extent (rows, cols)
    for i, label in enumerate(labels.tolist()):
        rows, cols = offsets[label]
        r = int(torch.randint(0, side - rows + 1, (1,), generator=g))
        c = int(torch.randint(0, side - cols + 1, (1,), generator=g))
        if label == 2:
            for k in range(4):
                images[i, r + k, c + k] += 1.0
        else:
            images[i, r : r + rows, c : c + cols] += 1.0
    return images, labels
