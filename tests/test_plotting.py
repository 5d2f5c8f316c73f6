"""Plot functions draw what they say, on the Agg backend, and never open a window."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from hilbert_sd import plotting  # noqa: E402
from hilbert_sd.compare import match_early_stopping  # noqa: E402
from hilbert_sd.experiments.self_distillation import refit, run_reference  # noqa: E402


@pytest.fixture(scope="module")
def run():
    """The reference example at epsilon = 0.005, through the runner (what the demo draws)."""
    from types import SimpleNamespace

    (row,) = run_reference([0.005])
    fit = refit(row)
    inputs = fit.inputs
    grid = fit.path.predict(inputs.K_test, np.arange(fit.path.n_rounds + 1))
    return SimpleNamespace(
        path=fit.path, test_mse=fit.test_mse, grid_predictions=grid,
        extras={"x": inputs.X[:, 0], "y": inputs.y, "x_grid": inputs.X_test[:, 0],
                "truth": inputs.y_test, "K_grid": inputs.K_test})


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


# ------------------------------------------------------------ model selection and family
@pytest.fixture(scope="module")
def selection_problem():
    from hilbert_sd.kernels import gram

    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (30, 1))
    y = np.sin(2 * np.pi * x[:, 0]) + 0.3 * rng.standard_normal(30)
    return gram(x, gamma=20.0), y


def star(ax):
    """The one line drawn as a star marker (the chosen or minimal point)."""
    (line,) = [ln for ln in ax.get_lines() if ln.get_marker() == "*"]
    return line


def integer_ticks(ax):
    from matplotlib.ticker import MaxNLocator

    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    return (isinstance(ax.xaxis.get_major_locator(), MaxNLocator)
            and np.all(np.asarray(ticks) == np.round(ticks)))


def test_selection_of_a_cv_grid_over_rounds(selection_problem):
    from hilbert_sd.model_selection import cv_self_distill

    K, y = selection_problem
    res = cv_self_distill(K, y, alphas=[0.05, 0.5], max_rounds=4, cv=3)
    ax = plotting.plot_selection(res)
    assert labelled(ax) and integer_ticks(ax)
    curves = [ln for ln in ax.get_lines() if ln.get_label().startswith("alpha = ")]
    assert [ln.get_label() for ln in curves] == ["alpha = 0.05", "alpha = 0.5"]
    for g, line in enumerate(curves):
        np.testing.assert_array_equal(line.get_xdata(), np.arange(5))
        np.testing.assert_array_equal(line.get_ydata(), res.mean_scores[g])
    # one band of mean ± std over the folds per ridge
    assert len(ax.collections) == 2
    for g, band in enumerate(ax.collections):
        ys = band.get_paths()[0].vertices[:, 1]
        lo, hi = res.mean_scores[g] - res.std_scores[g], res.mean_scores[g] + res.std_scores[g]
        assert ys.min() == pytest.approx(lo.min()) and ys.max() == pytest.approx(hi.max())
    g, p = res.best_index
    chosen = star(ax)
    assert chosen.get_xdata()[0] == p and chosen.get_ydata()[0] == res.best_score
    assert chosen.get_label().startswith("chosen: alpha = ")


def test_selection_of_a_cv_flow_over_times(selection_problem):
    from hilbert_sd.model_selection import cv_flow

    K, y = selection_problem
    times = [0.0, 1.0, 10.0, 100.0, 1000.0, np.inf]
    res = cv_flow(K, y, times, cv=3)
    ax = plotting.plot_selection(res, log=True)
    assert labelled(ax) and ax.get_xscale() == "symlog" and ax.get_yscale() == "log"
    line = ax.get_lines()[0]
    np.testing.assert_array_equal(line.get_xdata(), times[:-1])  # t = inf cannot be drawn
    np.testing.assert_array_equal(line.get_ydata(), res.mean_scores[:-1])
    (p,) = res.best_index
    assert star(ax).get_xdata()[0] == times[p]
    assert star(ax).get_ydata()[0] == res.best_score


def test_selection_along_paths_gcv_and_loo(selection_problem):
    from hilbert_sd import self_distill
    from hilbert_sd.flow import flow_path

    K, y = selection_problem
    path = self_distill(K, y, alpha=0.5, n_rounds=6)
    fig, ax = plt.subplots()
    assert plotting.plot_selection(path, ax=ax, label="alpha 0.5") is ax
    assert labelled(ax) and integer_ticks(ax)
    gcv = path.gcv()
    line = ax.get_lines()[0]
    assert line.get_label() == "alpha 0.5"
    np.testing.assert_array_equal(line.get_xdata(), np.arange(7))
    np.testing.assert_array_equal(line.get_ydata(), gcv)
    assert star(ax).get_xdata()[0] == np.argmin(gcv) and star(ax).get_ydata()[0] == gcv.min()
    ax = plotting.plot_selection(path, criterion="loo")
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), path.loo())
    assert "leave-one-out" in ax.get_ylabel()

    flow = flow_path(K, y, [1.0, 10.0, 100.0, 1000.0, np.inf])
    ax = plotting.plot_selection(flow)
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "time t"
    np.testing.assert_array_equal(ax.get_lines()[0].get_xdata(), [1.0, 10.0, 100.0, 1000.0])
    np.testing.assert_array_equal(ax.get_lines()[0].get_ydata(), flow.gcv()[:-1])
    gd = flow_path(K, y, [0, 1, 2, 3, 4, 5], method="gd", learning_rate=1.0)
    ax = plotting.plot_selection(gd)
    assert ax.get_xlabel() == "step t" and integer_ticks(ax)

    with pytest.raises(TypeError, match="PathCVResult or a SpectralPath"):
        plotting.plot_selection(np.zeros(3))
    with pytest.raises(ValueError, match="criterion='aic'"):
        plotting.plot_selection(path, criterion="aic")


def test_family_filters_side_by_side():
    from hilbert_sd import filters

    lam = np.array([3.0, 0.2, 1.0, 0.05, 0.0])  # not sorted, with a zero eigenvalue
    rows = {"ridge": filters.ridge(lam, 0.5)[0],
            "SD round 2": filters.self_distillation(lam, 0.5, 2)[2],
            "mixed SD": filters.self_distillation(lam, 0.5, 2, xi=[-1.0, 1.7])[2],
            "boosting": filters.boosting(lam, 0.5, 2)[2],
            "flow": filters.gradient_flow(lam, 4.0)[0],
            "cut-off": filters.spectral_cutoff(lam, 0.5)[0]}
    ax = plotting.plot_family_filters(lam, rows)
    assert labelled(ax) and ax.get_xscale() == "log"
    drawn = {ln.get_label(): ln for ln in ax.get_lines() if not ln.get_label().startswith("_")}
    assert list(drawn) == list(rows)
    order = [3, 1, 2, 0]  # the positive eigenvalues, increasing
    for name, h in rows.items():
        np.testing.assert_array_equal(drawn[name].get_xdata(), lam[order])
        np.testing.assert_array_equal(drawn[name].get_ydata(), h[order])
    assert {t.get_text() for t in ax.get_legend().get_texts()} == set(rows)
    with pytest.raises(ValueError, match="filter 'bad' has shape"):
        plotting.plot_family_filters(lam, {"bad": np.ones((1, 5))})


def test_plot_errors_takes_a_list_of_curves_with_labels_and_checks_them():
    """Issue 14: the ``labels`` argument was undocumented, unused, and a list failed."""
    rounds = np.arange(4)
    curves = [np.array([1.0, 0.5, 0.25, 0.2]), np.array([2.0, 1.0, 0.8, 0.7])]
    ax = plotting.plot_errors(rounds, curves, labels=["train", "test"])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "test"]
    np.testing.assert_array_equal(ax.get_lines()[1].get_ydata(), curves[1])
    ax = plotting.plot_errors(rounds, np.vstack(curves))  # a 2-D array, no labels: no legend
    assert len(ax.get_lines()) == 2 and ax.get_legend() is None
    with pytest.raises(ValueError, match="labels must be None when errors is a dict"):
        plotting.plot_errors(rounds, {"a": curves[0]}, labels=["a"])
    with pytest.raises(ValueError, match="labels has 1 entries for 2 curves"):
        plotting.plot_errors(rounds, curves, labels=["only one"])
    with pytest.raises(ValueError, match="one value per round"):
        plotting.plot_errors(rounds[:3], curves)


def test_round_axes_have_integer_ticks(run):
    """Issue 14: rounds and basis counts got fractional ticks (round 2.5, count 10.25)."""
    fig, axes = plt.subplots(1, 3)
    plotting.plot_errors(np.arange(4), {"e": [1.0, 0.5, 0.3, 0.2]}, ax=axes[0])
    plotting.plot_ridges(run.path, ax=axes[1])
    plotting.plot_basis_count(run.path, ax=axes[2])
    fig.canvas.draw()
    for ax in axes:
        ticks = ax.get_xticks()
        assert np.all(ticks == np.round(ticks)), ticks
    yt = axes[2].get_yticks()
    assert np.all(yt == np.round(yt)), yt
    plt.close(fig)


def _visible_ticks(ax, axis="x"):
    """Major tick values inside the view limits (the locator also returns a few outside)."""
    ticks = np.asarray(ax.get_xticks() if axis == "x" else ax.get_yticks())
    lo, hi = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    return ticks[(ticks >= lo - 1e-9) & (ticks <= hi + 1e-9)]


def _assert_integer_ticks(ax, axis="x"):
    ticks = _visible_ticks(ax, axis)
    assert ticks.size and np.all(ticks == np.round(ticks)), (ax.get_title(), axis, ticks)


def test_index_axes_and_few_rounds_have_integer_ticks(run):
    """Eigen-direction indices are integers too; three rounds are where 0.5 ticks appeared."""
    from types import SimpleNamespace

    cmp = match_early_stopping(path=run.path, K_test=run.extras["K_grid"],
                               y_test=run.extras["truth"])
    fig, axes = plt.subplots(1, 3, figsize=(18, 4))  # wide panels: dense default ticks
    plotting.plot_basis_weights(run.path, rounds=[0, 1], ax=axes[0])
    plotting.plot_filters(cmp, rounds=[0, 1], ax=axes[1])
    short = SimpleNamespace(alphas=[0.1, 0.2, 0.4], epsilon=0.1, collapse_round=None)
    plotting.plot_ridges(short, ax=axes[2])
    for ax in axes[:2]:  # a zoom onto three directions still ticks at integers
        ax.set_xlim(0.8, 3.2)
    fig.canvas.draw()
    for ax in axes:
        _assert_integer_ticks(ax)


def _overlap(a, b, tol=0.5):
    """Whether two display-space boxes overlap by more than ``tol`` pixels both ways."""
    return (min(a.x1, b.x1) - max(a.x0, b.x0) > tol) and (min(a.y1, b.y1) - max(a.y0, b.y0) > tol)


def _inside(box, fig_box, tol=0.5):
    return (box.x0 >= fig_box.x0 - tol and box.y0 >= fig_box.y0 - tol
            and box.x1 <= fig_box.x1 + tol and box.y1 <= fig_box.y1 + tol)


def assert_clean_layout(fig):
    """No title overlaps another or the suptitle; every title, axis label and drawn tick label
    is inside the figure; no two panels' decorated boxes (ticks, labels, title) overlap; the
    figure legend covers no panel."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):  # a bare Figure, as the reports make
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = [ax for ax in fig.axes if ax.get_visible()]
    titles = [ax.title.get_window_extent(renderer) for ax in axes]
    texts = [t.get_window_extent(renderer) for t in fig.texts if t.get_text()]  # suptitle
    for i, a in enumerate(titles):
        for b in titles[i + 1:] + texts:
            assert not _overlap(a, b), (a, b)
    for ax in axes:
        for artist in (ax.title, ax.xaxis.label, ax.yaxis.label):
            if artist.get_text():
                box = artist.get_window_extent(renderer)
                assert _inside(box, fig.bbox), (artist.get_text(), box, fig.bbox)
    boxes = [ax.get_tightbbox(renderer) for ax in axes]  # with the tick labels drawn
    for ax, box in zip(axes, boxes):
        assert _inside(box, fig.bbox), (ax.get_title(), box, fig.bbox)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:] + texts:
            assert not _overlap(a, b), (a, b)
    for legend in fig.legends:
        box = legend.get_window_extent(renderer)
        assert _inside(box, fig.bbox)
        assert not any(_overlap(box, b) for b in boxes)


@pytest.fixture(scope="module")
def noisy_result():
    from hilbert_sd.experiments.noisy_labels import run_noisy_labels

    return run_noisy_labels(60, n_test=30, noise_rates=(0.2, 0.4, 0.6), t_end=200, n_times=5)


@pytest.mark.parametrize("n_rates, n_rows", [(1, 1), (2, 1), (3, 2), (4, 2)])
def test_noisy_labels_accuracy_figure_layout(noisy_result, n_rates, n_rows):
    """Issue 14: with one row of panels the titles ran into the suptitle and the x-labels
    were cut off (margins were fractions of the figure sized for two rows)."""
    import dataclasses

    from hilbert_sd.experiments.noisy_labels import plot_accuracy_curves

    rates = (noisy_result.config["noise_rates"] * 2)[:n_rates]
    curves = {(s, r): c for (s, r), c in noisy_result.curves.items()}
    if n_rates == 4:  # a fourth panel: the first rate's curves again, under another rate
        curves[(0, 0.8)] = curves[(0, 0.2)]
        rates = rates[:3] + [0.8]
    result = dataclasses.replace(noisy_result, curves=curves,
                                 config={**noisy_result.config, "noise_rates": list(rates)})
    fig = plot_accuracy_curves(result)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == n_rates
    assert len({round(ax.get_position().y0, 6) for ax in visible}) == n_rows
    assert_clean_layout(fig)
    for ax in visible:
        assert ax.get_xscale() == "log"
        _assert_integer_ticks(ax)  # training steps: 1, 10, 100 on the log axis
    plt.close(fig)


def test_noisy_labels_air_figure_layout(noisy_result):
    from hilbert_sd.experiments.noisy_labels import plot_air

    fig = plot_air(noisy_result)
    assert_clean_layout(fig)
    plt.close(fig)


def test_reproduce_report_figures_have_integer_round_and_count_axes(tmp_path, monkeypatch):
    """The reports of ``reproduce self-distillation`` / ``linear-teacher``: rounds and sample
    counts tick at integers (ε = 0.1 collapses at round 2: three rounds, ticks were 0.5
    apart; the log axis of n was labelled 2 x 10^0, 3 x 10^0, ...), and the one-panel
    linear-teacher figure keeps its title and legend inside."""
    from matplotlib.figure import Figure

    from hilbert_sd.experiments import linear_teacher
    from hilbert_sd.experiments.reports import report_self_distillation, run_rows
    from hilbert_sd.experiments.self_distillation import run_reference

    saved = []
    savefig = Figure.savefig

    def keep(self, *args, **kwargs):
        saved.append(self)
        return savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    report_self_distillation(run_reference([0.1]), tmp_path)
    raw = {"experiment": {"name": "lt", "seeds": [0]},
           "data": {"generator": "gaussian", "n_samples": [2, 3, 6, 12], "n_features": 6,
                    "n_test": 0},
           "method": {"name": "linear_teacher", "draws": 5}}
    linear_teacher.report(run_rows(raw, name="lt"), tmp_path)
    (sd_fig, lt_fig) = saved
    for ax in sd_fig.axes:
        _assert_integer_ticks(ax)
    _assert_integer_ticks(lt_fig.axes[0])
    assert not [t for t in lt_fig.axes[0].get_xticklabels(minor=True) if t.get_text()]
    assert_clean_layout(sd_fig)
    assert_clean_layout(lt_fig)


def test_plot_command_figure_ticks_integer_parameters_at_integers():
    """``hilbert-sd plot --x data.n_samples``: a sample count got ticks at 3.25, 3.5, ..."""
    from hilbert_sd.experiments.figures import plot_metric

    def one(xs):
        return [{"x": xs, "mean": np.array([0.3, 0.2, 0.15]), "se": np.full(3, 0.01),
                 "count": np.full(3, 5), "label": "all"}]

    fig = plot_metric([], "data.n_samples", "best_test_mse", series=one([3, 4, 5]))
    _assert_integer_ticks(fig.axes[0])
    assert_clean_layout(fig)
    fig = plot_metric([], "method.epsilon", "best_test_mse", series=one([0.01, 0.02, 0.03]))
    ticks = _visible_ticks(fig.axes[0])
    assert np.any(ticks != np.round(ticks))  # a real-valued parameter keeps its ticks
    plot_metric([], "kernel.name", "best_test_mse", series=one(["a", "b", "c"]))  # no error
