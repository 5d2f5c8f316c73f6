"""Data sets used by the experiments: generated, embedded and bundled with scikit-learn.

- :func:`make_clustered`: Gaussian clusters per class in ``p`` dimensions (classification).
- :func:`load_mobahi_toy`: the 11-point reference toy data of :doc:`/theory` (embedded CSV).
- :func:`load_digits`: scikit-learn's bundled 8 × 8 digits, scaled to [0, 1] (no download).
- :func:`one_hot`: integer labels to one-hot float targets.
"""

import csv
import io
from importlib import resources

import numpy as np

from hilbert_sd._validation import check_scalar

__all__ = ["load_digits", "load_mobahi_toy", "make_clustered", "one_hot"]


def _rng(random_state):
    """A numpy Generator from an int, None, a Generator or a RandomState's seed."""
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None or isinstance(random_state, (int, np.integer)):
        if random_state is not None and random_state < 0:
            raise ValueError(f"random_state={random_state!r} is out of range; allowed: "
                             "an integer >= 0, None or a numpy Generator")
        return np.random.default_rng(random_state)
    raise ValueError(f"random_state={random_state!r} is not supported; allowed: an integer >= 0, "
                     "None or a numpy Generator")


def make_clustered(n_samples=200, *, n_features=10, n_classes=4, clusters_per_class=2,
                   cluster_std=1.0, center_scale=1.0, random_state=None, return_centers=False):
    """Gaussian clusters, several per class, in ``n_features`` dimensions.

    Cluster centres are drawn once from ``N(0, center_scale² I)``; every sample is its centre
    plus ``N(0, cluster_std² I)`` noise. Samples are spread over the clusters as evenly as
    possible (cluster sizes differ by at most one) and shuffled, so the classes are balanced
    to within ``clusters_per_class`` samples. Because centres and samples come from one
    generator, draw the training and test sets in one call and split them.

    Parameters
    ----------
    n_samples : int, default=200
        Number of samples, >= 1.
    n_features : int, default=10
        Input dimension p, >= 1.
    n_classes : int, default=4
        Number of classes, >= 2.
    clusters_per_class : int, default=2
        Gaussian clusters per class, >= 1.
    cluster_std : float, default=1.0
        Standard deviation of each coordinate within a cluster, > 0.
    center_scale : float, default=1.0
        Standard deviation of the centre coordinates, > 0. The difficulty of the problem is set
        by the ratio ``cluster_std / center_scale``.
    random_state : int, numpy Generator or None, default=None
        Seed of the centres and the samples.
    return_centers : bool, default=False
        Also return the centres and their classes.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,), dtype int64
        Class labels in ``0 .. n_classes - 1``.
    centers : ndarray of shape (n_classes * clusters_per_class, n_features)
        Only when ``return_centers``.
    center_labels : ndarray of shape (n_classes * clusters_per_class,), dtype int64
        Class of each centre; only when ``return_centers``.

    Examples
    --------
    >>> from hilbert_sd.datasets import make_clustered
    >>> X, y = make_clustered(100, n_features=5, n_classes=3, random_state=0)
    >>> X.shape, sorted(set(y.tolist()))
    ((100, 5), [0, 1, 2])
    """
    n_samples = check_scalar(n_samples, "n_samples", low=1, integer=True)
    n_features = check_scalar(n_features, "n_features", low=1, integer=True)
    n_classes = check_scalar(n_classes, "n_classes", low=2, integer=True)
    clusters_per_class = check_scalar(clusters_per_class, "clusters_per_class", low=1,
                                      integer=True)
    cluster_std = check_scalar(cluster_std, "cluster_std", low=0, low_inclusive=False)
    center_scale = check_scalar(center_scale, "center_scale", low=0, low_inclusive=False)
    rng = _rng(random_state)
    n_clusters = n_classes * clusters_per_class
    centers = center_scale * rng.standard_normal((n_clusters, n_features))
    center_labels = np.repeat(np.arange(n_classes, dtype=np.int64), clusters_per_class)
    # Round-robin assignment then a shuffle: balanced sizes without rejection sampling.
    cluster = rng.permutation(np.arange(n_samples) % n_clusters)
    X = centers[cluster] + cluster_std * rng.standard_normal((n_samples, n_features))
    y = center_labels[cluster]
    if return_centers:
        return X, y, centers, center_labels
    return X, y


def load_mobahi_toy():
    """The reference toy data of :doc:`/theory`: 11 points, x = 0, 0.1, …, 1, y ≈ sin(2πx) + noise.

    Read from the CSV embedded in the package (``hilbert_sd/data/mobahi_toy.csv``).

    Returns
    -------
    x : ndarray of shape (11, 1)
    y : ndarray of shape (11,)

    Examples
    --------
    >>> from hilbert_sd.datasets import load_mobahi_toy
    >>> x, y = load_mobahi_toy()
    >>> x.shape, y.shape
    ((11, 1), (11,))
    """
    text = resources.files("hilbert_sd").joinpath("data", "mobahi_toy.csv").read_text(
        encoding="utf-8")
    reader = csv.reader(io.StringIO(text))
    header = next(reader)
    if [h.strip() for h in header] != ["x", "y"]:
        raise ValueError(f"mobahi_toy.csv: header {header!r}; expected ['x', 'y']")
    rows = [(float(a), float(b)) for a, b in reader if a.strip()]
    data = np.asarray(rows, dtype=np.float64)
    return data[:, :1].copy(), data[:, 1].copy()


def load_digits(*, n_class=10, normalize=True):
    """scikit-learn's bundled 8 × 8 handwritten digits (1797 samples, no download).

    Parameters
    ----------
    n_class : int, default=10
        Keep the digits ``0 .. n_class - 1`` (2 to 10).
    normalize : bool, default=True
        Divide the pixel intensities (0 to 16) by 16, so features lie in [0, 1].

    Returns
    -------
    X : ndarray of shape (n_samples, 64)
    y : ndarray of shape (n_samples,), dtype int64
    """
    from sklearn.datasets import load_digits as _sk_load_digits

    n_class = check_scalar(n_class, "n_class", low=2, high=10, integer=True)
    X, y = _sk_load_digits(n_class=n_class, return_X_y=True)
    X = np.asarray(X, dtype=np.float64)
    if normalize:
        X = X / 16.0
    return X, np.asarray(y, dtype=np.int64)


def one_hot(labels, n_classes=None):
    """Integer class labels to one-hot float64 targets.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Integers in ``0 .. n_classes - 1``.
    n_classes : int, optional
        Number of columns; default ``max(labels) + 1``.

    Returns
    -------
    Y : ndarray of shape (n_samples, n_classes), float64

    Examples
    --------
    >>> from hilbert_sd.datasets import one_hot
    >>> one_hot([0, 2, 1]).tolist()
    [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    """
    labels = _as_labels(labels, "labels")
    top = int(labels.max()) + 1 if labels.size else 0
    if n_classes is None:
        n_classes = max(top, 1)
    n_classes = check_scalar(n_classes, "n_classes", low=1, integer=True)
    if top > n_classes:
        raise ValueError(f"labels contain class {top - 1}, out of range for n_classes={n_classes}; "
                         f"allowed: 0 .. {n_classes - 1}")
    Y = np.zeros((labels.shape[0], n_classes), dtype=np.float64)
    Y[np.arange(labels.shape[0]), labels] = 1.0
    return Y


def _as_labels(labels, name):
    """Validate integer class labels (1-D, >= 0) and return them as int64."""
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"{name} must have 1 dimension; got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(np.isfinite(arr)) \
                or not np.all(arr == np.round(arr)):
            raise ValueError(f"{name} must hold integer class labels; got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name} contains {int(arr.min())}; allowed: integers >= 0")
    return arr
