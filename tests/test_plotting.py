"""Plot functions draw what they say, on the Agg backend, and never open a window."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hilbert_sd import plotting  # noqa: E402
from hilbert_sd.compare import match_early_stopping  # noqa: E402
from hilbert_sd.experiments.self_distillation import run_reference  # noqa: E402


@pytest.fixture(scope="module")
def run():
    (r,) = run_reference([0.005])
    return r


@pytest.fixture(autouse=True)
def no_show(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("plt.show() was called")

    monkeypatch.setattr(plt, "show", fail)
    yield
    plt.close("all")


def labelled(ax):
    return ax.get_xlabel() and ax.get_ylabel() and ax.get_title()


def test_basis_weights_are_drawn_relative_on_a_log_scale(run):
    ax = plotting.plot_basis_weights(run.path, rounds=[0, 3])
    assert labelled(ax) and ax.get_yscale() == "log"
    lines = ax.get_lines()
    assert len(lines) == 2
    w = run.path.basis_weights[3]
    np.testing.assert_allclose(lines[1].get_ydata(), w / w.max(), rtol=1e-12)
    assert ax.get_legend() is not None


def test_ridges_and_fits(run):
    ax = plotting.plot_ridges(run.path)
    assert labelled(ax) and ax.get_yscale() == "log"
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), run.path.alphas)
    ex = run.extras
    ax = plotting.plot_fits(run.path, ex["K_grid"], ex["x_grid"], ex["x"], ex["y"],
                            truth=ex["truth"], rounds=[0, 1])
    assert labelled(ax)
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), run.grid_predictions[0])


def test_errors_and_basis_count_draw_on_a_given_axes(run):
    fig, ax = plt.subplots()
    out = plotting.plot_errors(range(len(run.test_mse)), {"test": run.test_mse}, ax=ax)
    assert out is ax and labelled(ax)
    out = plotting.plot_basis_count(run.path, ax=ax)
    assert out is ax


def test_comparison_figures(run):
    cmp = match_early_stopping(path=run.path, K_test=run.extras["K_grid"],
                               y_test=run.extras["truth"])
    ax = plotting.plot_filters(cmp, rounds=[0, 5])
    assert labelled(ax) and ax.get_yscale() == "log"
    assert len(ax.get_lines()) == 1 + 2 * 2
    ax = plotting.plot_comparison_errors(cmp)
    assert {t.get_text() for t in ax.get_legend().get_texts()} >= {
        "test, self-distillation", "test, early stopping"}
    ex = run.extras
    fig = plotting.plot_comparison(run.path, cmp, ex["K_grid"], ex["x_grid"], ex["x"], ex["y"],
                                   truth=ex["truth"])
    assert len(fig.axes) == 6 and all(labelled(a) for a in fig.axes)
