"""Tests of hilbert_sd.datasets: generators, embedded and bundled data, one-hot encoding."""

import numpy as np
import pytest
from sklearn.datasets import load_digits as sk_load_digits
from sklearn.preprocessing import LabelBinarizer

from hilbert_sd.datasets import load_digits, load_mobahi_toy, make_clustered, one_hot


def test_make_clustered_shapes_balance_and_seed():
    X, y = make_clustered(1001, n_features=7, n_classes=3, clusters_per_class=2,
                          random_state=5)
    assert X.shape == (1001, 7) and X.dtype == np.float64
    assert y.shape == (1001,) and y.dtype == np.int64
    counts = np.bincount(y, minlength=3)
    assert counts.max() - counts.min() <= 2  # clusters differ by at most one sample each
    X2, y2 = make_clustered(1001, n_features=7, n_classes=3, clusters_per_class=2,
                            random_state=5)
    assert np.array_equal(X, X2) and np.array_equal(y, y2)
    X3, _ = make_clustered(1001, n_features=7, n_classes=3, clusters_per_class=2,
                           random_state=6)
    assert not np.allclose(X, X3)


def test_make_clustered_is_gaussian_around_its_centres():
    X, y, centers, center_labels = make_clustered(
        20000, n_features=3, n_classes=2, clusters_per_class=2, cluster_std=0.5,
        center_scale=10.0, random_state=1, return_centers=True)
    assert centers.shape == (4, 3) and center_labels.tolist() == [0, 0, 1, 1]
    # Far-apart centres: assign each sample to its nearest centre and check the moments.
    nearest = np.argmin(((X[:, None, :] - centers[None]) ** 2).sum(-1), axis=1)
    assert np.array_equal(center_labels[nearest], y)
    for j in range(4):
        pts = X[nearest == j]
        assert abs(len(pts) - 5000) <= 1
        np.testing.assert_allclose(pts.mean(axis=0), centers[j], atol=0.03)
        np.testing.assert_allclose(pts.std(axis=0), 0.5, atol=0.02)


@pytest.mark.parametrize("kwargs,match", [
    (dict(n_samples=0), "n_samples"),
    (dict(n_classes=1), "n_classes"),
    (dict(cluster_std=0.0), "cluster_std"),
    (dict(random_state=-3), "random_state"),
    (dict(random_state="seed"), "random_state"),
])
def test_make_clustered_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_clustered(**kwargs)


def test_make_clustered_accepts_a_generator():
    rng = np.random.default_rng(0)
    X, _ = make_clustered(10, random_state=rng)
    X2, _ = make_clustered(10, random_state=np.random.default_rng(0))
    assert np.array_equal(X, X2)


def test_load_mobahi_toy_matches_the_specification():
    x, y = load_mobahi_toy()
    assert x.shape == (11, 1) and y.shape == (11,)
    np.testing.assert_allclose(x[:, 0], np.linspace(0, 1, 11), atol=1e-12)
    # theory.md §2: ‖y‖²/n = 0.57354
    assert np.sum(y**2) / 11 == pytest.approx(0.57354, abs=5e-6)
    # targets ≈ sin(2πx) plus noise
    assert np.corrcoef(y, np.sin(2 * np.pi * x[:, 0]))[0, 1] > 0.8


def test_load_digits_normalized():
    X, y = load_digits()
    Xs, ys = sk_load_digits(return_X_y=True)
    np.testing.assert_allclose(X, Xs / 16.0)
    assert np.array_equal(y, ys) and X.min() == 0.0 and X.max() == 1.0
    X3, y3 = load_digits(n_class=3, normalize=False)
    assert set(y3.tolist()) == {0, 1, 2} and X3.max() == 16.0
    with pytest.raises(ValueError, match="n_class"):
        load_digits(n_class=11)


def test_one_hot_against_label_binarizer():
    labels = np.array([2, 0, 1, 3, 3, 0])
    np.testing.assert_array_equal(one_hot(labels), LabelBinarizer().fit_transform(labels))
    assert one_hot([1, 0], n_classes=4).shape == (2, 4)
    assert one_hot(np.array([1.0, 0.0])).dtype == np.float64
    for bad, match in (([0, -1], "labels"), ([0.5, 1], "integer"), ([[0, 1]], "dimension")):
        with pytest.raises(ValueError, match=match):
            one_hot(bad)
    with pytest.raises(ValueError, match="n_classes"):
        one_hot([0, 3], n_classes=2)
