"""coursekit.vision: patches in the right order, the synthetic shapes balanced and reproducible."""

import pytest
import torch

from coursekit.vision import SHAPES, image_patches, shape_images


def test_patches_are_squares_in_row_major_order():
    images = torch.arange(2 * 4 * 6.0).view(2, 4, 6)
    p = image_patches(images, 2)
    assert p.shape == (2, 6, 4)
    assert p[0, 0].tolist() == [0.0, 1.0, 6.0, 7.0]
    assert p[0, 3].tolist() == [12.0, 13.0, 18.0, 19.0]  # second row of patches, first column
    assert p[1, 5].tolist() == images[1, 2:4, 4:6].flatten().tolist()


def test_patches_need_divisible_images():
    with pytest.raises(ValueError, match="do not divide"):
        image_patches(torch.zeros(1, 5, 4), 2)
    with pytest.raises(ValueError, match=r"\(B, H, W\)"):
        image_patches(torch.zeros(5, 4), 2)


def test_shape_images_are_balanced_reproducible_and_equal_ink():
    x, y = shape_images(40, noise=0.0, seed=3)
    assert x.shape == (40, 8, 8) and torch.bincount(y).tolist() == [10] * len(SHAPES)
    assert torch.equal(x, shape_images(40, noise=0.0, seed=3)[0])
    assert torch.all(x.sum((1, 2)) == 4)
