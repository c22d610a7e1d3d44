import numpy as np
from skimage import color

from colorize_core.data.lab import denormalize_lab, lab_to_rgb, normalize_lab, rgb_to_lab


def test_rgb_to_lab_agrees_with_scikit_image_on_random_pixels():
    rgb = np.random.default_rng(0).random((20_000, 3)).astype(np.float32)
    ours, reference = rgb_to_lab(rgb).numpy(), color.rgb2lab(rgb)
    assert np.abs(ours[:, 0] - reference[:, 0]).max() < 0.05
    assert np.abs(ours[:, 1:] - reference[:, 1:]).max() < 0.05


def test_lab_to_rgb_agrees_with_scikit_image_and_round_trips():
    rgb = np.random.default_rng(1).random((64, 64, 3)).astype(np.float32)
    lab = color.rgb2lab(rgb)
    assert np.abs(lab_to_rgb(lab).numpy() - color.lab2rgb(lab)).max() < 1e-3
    assert np.abs(lab_to_rgb(rgb_to_lab(rgb)).numpy() - rgb).max() < 1e-3


def test_extremes_and_normalisation_ranges():
    corners = np.array([[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], np.float32)
    lab = rgb_to_lab(corners)
    assert np.abs(lab.numpy() - color.rgb2lab(corners)).max() < 0.05
    L, ab = normalize_lab(lab)
    assert L.numpy().min() >= -1.0 - 1e-5 and L.numpy().max() <= 1.0 + 1e-5
    assert np.abs(ab.numpy()).max() <= 1.0
    assert np.allclose(denormalize_lab(L, ab).numpy(), lab.numpy(), atol=1e-4)
