"""Training and test data of experiment configs: synthetic generators and files.

Randomness is split into independent streams so that what should stay fixed does: the inputs
depend on ``data.seed`` only (so every simulation seed shares one Gram matrix), a generator's
teacher on ``data.seed`` only, and the label noise on the simulation seed only.
"""

import csv
import hashlib
import warnings
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DataSet",
    "add_gaussian_noise",
    "add_label_noise",
    "file_sha256",
    "load_file",
    "truth_sin2pi",
]

# Stream tags: np.random.default_rng([tag, seed]) gives independent streams per purpose.
_INPUTS, _TEACHER = 0, 1


@dataclass
class DataSet:
    """Noise-free data of one ``[data]`` option.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
        Training labels before label noise.
    X_test : ndarray of shape (n_test, n_features) or None
    y_test : ndarray of shape (n_test,) or None
        Noise-free test targets.
    """

    X: np.ndarray
    y: np.ndarray
    X_test: np.ndarray = None
    y_test: np.ndarray = None


def add_gaussian_noise(y, sigma, seed):
    """Regression targets plus Gaussian noise: ``y + sigma * N(0, 1)``.

    The ``data.label_noise`` of a config. Not class-label flips (those are
    :func:`hilbert_sd.noisy_labels.add_label_noise`).

    Parameters
    ----------
    y : ndarray
        Noise-free targets.
    sigma : float
        Standard deviation of the noise, >= 0.
    seed : int or sequence of int
        Seed of ``np.random.default_rng``. The same seed gives the same noise vector whatever
        the other parameters (common random numbers across a grid), so differences between
        grid points are not sampling noise.

    Returns
    -------
    ndarray
        A new array of the shape of ``y``; ``y`` itself when ``sigma`` is 0.
    """
    if sigma == 0:
        return y
    rng = np.random.default_rng(seed)
    return y + sigma * rng.standard_normal(y.shape)


def add_label_noise(y, sigma, seed):
    """Deprecated alias of :func:`add_gaussian_noise`.

    The name suggested class-label flips, which :func:`hilbert_sd.noisy_labels.add_label_noise`
    does; this function adds Gaussian noise to regression targets.

    Parameters
    ----------
    y, sigma, seed
        As in :func:`add_gaussian_noise`.

    Returns
    -------
    ndarray

    Warns
    -----
    DeprecationWarning
        Always; use :func:`add_gaussian_noise`.
    """
    warnings.warn("hilbert_sd.experiments.data.add_label_noise adds Gaussian noise to "
                  "regression targets and is renamed add_gaussian_noise; the old name will "
                  "be removed", DeprecationWarning, stacklevel=2)
    return add_gaussian_noise(y, sigma, seed)


# ---------------------------------------------------------------------------------------------
# generators (registered in hilbert_sd.experiments.registry.GENERATORS)
# ---------------------------------------------------------------------------------------------
def sine_inputs(params):
    """Inputs of the ``"sine"`` generator: x in [0, 1] and an even test grid."""
    n = params["n_samples"]
    if params["design"] == "grid":
        x = np.linspace(0.0, 1.0, n)
    else:
        x = np.sort(np.random.default_rng([_INPUTS, params["seed"]]).uniform(0.0, 1.0, n))
    X_test = np.linspace(0.0, 1.0, params["n_test"])[:, None] if params["n_test"] else None
    return x[:, None], X_test


def sine_labels(params, X, X_test):
    """Noise-free labels of the ``"sine"`` generator."""
    def f(Z):
        return params["amplitude"] * np.sin(2.0 * np.pi * params["frequency"] * Z[:, 0])
    return f(X), (None if X_test is None else f(X_test))


def gaussian_inputs(params):
    """Inputs of the ``"gaussian"`` generator: rows of N(0, I_p), then the test rows."""
    rng = np.random.default_rng([_INPUTS, params["seed"]])
    X = rng.standard_normal((params["n_samples"], params["n_features"]))
    # Drawn after X: the training inputs do not depend on n_test.
    X_test = rng.standard_normal((params["n_test"], params["n_features"])) if params["n_test"] \
        else None
    return X, X_test


def gaussian_labels(params, X, X_test):
    """Noise-free labels of the ``"gaussian"`` generator, a function of w.x, ||w|| = 1."""
    w = np.random.default_rng([_TEACHER, params["seed"]]).standard_normal(X.shape[1])
    w /= np.linalg.norm(w)
    g = {"linear": lambda s: s, "sign": np.sign, "sine": lambda s: np.sin(np.pi * s)}
    f = g[params["target"]]
    return f(X @ w), (None if X_test is None else f(X_test @ w))


def _clustered(params):
    from hilbert_sd.datasets import make_clustered

    n = params["n_samples"]
    keys = ("n_features", "n_classes", "clusters_per_class", "cluster_std", "center_scale")
    # training and test points from one call (centres and samples share one generator)
    X, y = make_clustered(n + params["n_test"], random_state=params["seed"],
                          **{k: params[k] for k in keys})
    return X[:n], y[:n], X[n:], y[n:]


def _bundled(load, what):
    """A data set bundled with scikit-learn, ``load() -> (X, y)``, split at random into
    ``n_samples`` training and ``n_test`` test points by ``seed``."""
    def draw(params):
        X, y = load()
        n, n_test = params["n_samples"], params["n_test"]
        if n + n_test > X.shape[0]:
            raise ValueError(f"n_samples + n_test = {n + n_test} exceeds the {X.shape[0]} "
                             f"{what}; allowed: n_samples + n_test <= {X.shape[0]}")
        perm = np.random.default_rng(params["seed"]).permutation(X.shape[0])
        tr, te = perm[:n], perm[n:n + n_test]
        return X[tr], y[tr], X[te], y[te]
    return draw


def _load_digits():
    from hilbert_sd.datasets import load_digits

    return load_digits()


def _load_diabetes():
    from sklearn.datasets import load_diabetes

    return load_diabetes(return_X_y=True)


_digits = _bundled(_load_digits, "digits")
_diabetes = _bundled(_load_diabetes, "diabetes samples")


def _split_inputs(draw):
    def inputs(params):
        X, _, X_test, _ = draw(params)
        return X, (X_test if params["n_test"] else None)
    return inputs


def _split_labels(draw):
    def labels(params, X, X_test):
        _, y, _, y_test = draw(params)
        return y, (y_test if params["n_test"] else None)
    return labels


#: ``"clustered"``: Gaussian clusters per class (:func:`hilbert_sd.datasets.make_clustered`,
#: training and test points from one call with ``data.seed``); integer class labels.
clustered_inputs, clustered_labels = _split_inputs(_clustered), _split_labels(_clustered)
#: ``"digits"``: scikit-learn's bundled digits scaled to [0, 1], a permutation by
#: ``data.seed`` split into training and test points; integer class labels.
digits_inputs, digits_labels = _split_inputs(_digits), _split_labels(_digits)
#: ``"diabetes"``: scikit-learn's bundled diabetes regression data (442 x 10, as scikit-learn
#: scales it; the target a disease progression, 25..346), a permutation by ``data.seed``
#: split into training and test points.
diabetes_inputs, diabetes_labels = _split_inputs(_diabetes), _split_labels(_diabetes)


def truth_sin2pi(X):
    """sin(2 pi x) of one-dimensional inputs: the noise-free target of mobahi_toy.csv."""
    return np.sin(2.0 * np.pi * X[:, 0])


# ---------------------------------------------------------------------------------------------
# files
# ---------------------------------------------------------------------------------------------
def file_sha256(path):
    """SHA-256 of a file's bytes (hex): files enter simulation keys by content, not by path."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_file(path, features=None, target=None):
    """Read inputs and labels from a CSV, NPY or NPZ file.

    Parameters
    ----------
    path : str or path-like
        ``.csv`` with a header row; ``.npy`` holding a 2-D array whose last column is the
        target; ``.npz`` holding arrays ``X`` (n, p) or (n,) and ``y`` (n,).
    features : list of str, optional
        CSV columns of the inputs (default: every column but the target).
    target : str, optional
        CSV column of the labels (default: the last column).

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)

    Raises
    ------
    ValueError
        Unknown columns, non-numeric entries, or arrays of the wrong shape.
    """
    path = str(path)
    suffix = path.rsplit(".", 1)[-1].lower()
    if suffix == "csv":
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
        rows = [r for r in rows if r and any(c.strip() for c in r)]
        if len(rows) < 2:
            raise ValueError(f"{path}: a CSV needs a header row and at least one data row")
        header = [c.strip() for c in rows[0]]
        target = header[-1] if target is None else target
        features = [c for c in header if c != target] if features is None else list(features)
        for col in [target, *features]:
            if col not in header:
                raise ValueError(f"{path}: no column {col!r}; columns: {', '.join(header)}")
        if not features:
            raise ValueError(f"{path}: no input column besides the target {target!r}")
        try:
            table = np.array([[float(c) for c in r] for r in rows[1:]], dtype=np.float64)
        except ValueError as exc:
            raise ValueError(f"{path}: non-numeric entry ({exc})") from None
        if table.shape[1] != len(header):
            raise ValueError(f"{path}: rows have {table.shape[1]} fields, header {len(header)}")
        X = table[:, [header.index(c) for c in features]]
        y = table[:, header.index(target)]
    elif suffix == "npy":
        arr = np.load(path, allow_pickle=False)
        if arr.ndim != 2 or arr.shape[1] < 2:
            raise ValueError(f"{path}: expected a 2-D array (features..., target); "
                             f"got shape {arr.shape}")
        X, y = arr[:, :-1], arr[:, -1]
    elif suffix == "npz":
        with np.load(path, allow_pickle=False) as npz:
            if "X" not in npz or "y" not in npz:
                raise ValueError(f"{path}: an .npz file needs arrays 'X' and 'y'; "
                                 f"has {sorted(npz.files)}")
            X, y = npz["X"], npz["y"]
        X = X[:, None] if X.ndim == 1 else X
        if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
            raise ValueError(f"{path}: X must be (n, p) and y (n,); got {X.shape}, {y.shape}")
    else:
        raise ValueError(f"{path}: unknown file type {suffix!r}; allowed: csv, npy, npz")
    X = np.ascontiguousarray(X, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
        raise ValueError(f"{path}: contains NaN or infinite values")
    return X, y
