"""Study results share one protocol: summary() (the text the command prints), save(out_dir)
(the files the command writes, returned), plot() (Figures), and a short repr; the reference
example's report writes the demo's files."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.figure  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

REPR_LIMIT = 300


def _check_saved(paths, out_dir):
    assert paths and all(p.is_file() and p.stat().st_size > 0 for p in paths)
    assert sorted(p.name for p in paths) == sorted(p.name for p in out_dir.iterdir())


def test_reference_report_protocol(tmp_path):
    from hilbert_sd.experiments import self_distillation as sd

    rows = sd.run_reference([0.005, 0.05])
    produced = sd.report(rows, tmp_path / "out")
    text = produced["summary"]
    assert text.index("epsilon = 0.005") < text.index("epsilon = 0.05")
    figure = sd._figure(rows[0])
    assert len(figure.axes) == 6  # the six panels of the gallery
    plt.close("all")
    paths = produced["files"]
    _check_saved(paths, tmp_path / "out")
    assert [p.name for p in paths] == ["self_distillation.csv", "self_distillation.json",
                                       "self_distillation_eps0.005.png",
                                       "self_distillation_eps0.05.png"]


def test_linear_teacher_result_protocol(tmp_path):
    pytest.importorskip("hilbert_sd.linear")
    from hilbert_sd.experiments.linear_teacher import linear_teacher_experiment

    result = linear_teacher_experiment(d=6, n_values=[3, 6], n_draws=5)
    assert len(repr(result)) < REPR_LIMIT
    assert result.summary().startswith(result.format_table())
    assert isinstance(result.plot(), matplotlib.figure.Figure)
    paths = result.save(tmp_path)
    _check_saved(paths, tmp_path)
    assert [p.name for p in paths] == ["linear_teacher.csv", "linear_teacher.json",
                                       "linear_teacher.png"]


def test_soft_labels_result_protocol(tmp_path):
    from hilbert_sd.experiments.soft_labels import run_soft_labels

    result = run_soft_labels(60, n_test=20, temperatures=(2.0,), n_members=2,
                             teacher_steps=5, student_steps=5)
    assert len(repr(result)) < REPR_LIMIT
    assert result.summary().startswith(result.format_table())
    fig = result.plot()
    assert len(fig.axes) == 6
    plt.close(fig)
    paths = result.save(tmp_path)
    _check_saved(paths, tmp_path)
    assert [p.name for p in paths] == ["soft_labels.csv", "soft_labels.json", "soft_labels.png"]


def test_noisy_labels_result_protocol(tmp_path):
    from hilbert_sd.experiments.noisy_labels import run_noisy_labels

    result = run_noisy_labels(60, n_test=30, noise_rates=(0.3,), t_end=200, n_times=5)
    assert len(repr(result)) < REPR_LIMIT
    text = result.summary()
    assert result.table() in text and text.splitlines()[-1].startswith("time: ")
    figures = result.plot()
    assert len(figures) == 2
    plt.close("all")
    paths = result.save(tmp_path)
    _check_saved(paths, tmp_path)
    assert [p.name for p in paths] == ["noisy_labels.csv", "noisy_labels_curves.csv",
                                       "noisy_labels.json", "noisy_labels_accuracy.png",
                                       "noisy_labels_air.png"]
