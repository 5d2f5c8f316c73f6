"""Drivers of the named experiments that run as a study of their own.

``hilbert-sd reproduce early-stopping`` (and ``noisy-labels``, ``soft-labels``) run the study
function with its defaults and write its result into the output directory
(``result.save(out_dir)``) — the same study, result and files as the subcommand, which
does the same after parsing its options. The drivers never go through the command line.
"""

import sys

__all__ = ["early_stopping", "noisy_labels", "soft_labels"]


def _produced(result, out_dir):
    """What a driver returns: the files ``result.save`` wrote and ``result.summary()``."""
    files = result.save(out_dir)
    return {"files": [str(p) for p in sorted(files)], "summary": result.summary()}


def _progress(quiet):
    """One plain line on stderr per progress message (None when quiet)."""
    if quiet:
        return None

    def say(line):
        print(line, file=sys.stderr, flush=True)

    return say


def early_stopping(out_dir, *, jobs=1, scheduler=None, quiet=False):
    """Self-distillation vs early stopping at matched training error on the reference data
    (the tables and six-panel figures of ``hilbert-sd demo``).

    Parameters
    ----------
    out_dir : path-like
        Where the CSV, JSON and figures go (created if missing).
    jobs, scheduler : optional
        Unused: the study is one small computation.
    quiet : bool, default=False
        Unused: the study reports no progress.

    Returns
    -------
    dict
        ``{"files": [paths written, sorted], "summary": the text tables}``.
    """
    from hilbert_sd.experiments.self_distillation import DEFAULT_EPSILONS, run_reference

    return _produced(run_reference(DEFAULT_EPSILONS), out_dir)


def noisy_labels(out_dir, *, jobs=1, scheduler=None, quiet=False):
    """The noisy-label experiment of ``hilbert-sd noisy-labels`` at its defaults.

    Parameters
    ----------
    out_dir : path-like
        Where the CSV/JSON tables and the two figures go.
    jobs, scheduler : optional
        Unused: one eigendecomposition serves every method of a seed.
    quiet : bool, default=False
        No progress lines on stderr.

    Returns
    -------
    dict
        ``{"files": [paths written, sorted], "summary": the text table and comparisons}``.
    """
    from hilbert_sd.experiments.noisy_labels import run_noisy_labels

    return _produced(run_noisy_labels(progress=_progress(quiet)), out_dir)


def soft_labels(out_dir, *, jobs=1, scheduler=None, quiet=False):
    """The soft-label experiment of ``hilbert-sd soft-labels`` at its defaults.

    Parameters
    ----------
    out_dir : path-like
        Where ``soft_labels.csv``, ``soft_labels.json`` and ``soft_labels.png`` go.
    jobs, scheduler : optional
        Unused: the students are trained in one batched process.
    quiet : bool, default=False
        No progress lines on stderr.

    Returns
    -------
    dict
        ``{"files": [paths written, sorted], "summary": the text table}``.
    """
    from hilbert_sd.experiments.soft_labels import run_soft_labels

    return _produced(run_soft_labels(progress=_progress(quiet)), out_dir)
