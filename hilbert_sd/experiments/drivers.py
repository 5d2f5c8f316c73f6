"""Drivers of the named experiments that run as a subcommand of their own.

``hilbert-sd reproduce early-stopping`` (and ``noisy-labels``, ``soft-labels``) run the
subcommand with its defaults into the output directory, so that a named experiment and the
subcommand can never drift apart.
"""

import contextlib
import io
from pathlib import Path

__all__ = ["early_stopping", "noisy_labels", "soft_labels"]


def _via_command(command, out_dir, quiet, extra=()):
    from hilbert_sd.cli import build_parser

    args = build_parser().parse_args([command, "--out", str(out_dir), *extra])
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        if quiet:
            with contextlib.redirect_stderr(io.StringIO()):
                status = args._run(args)
        else:
            status = args._run(args)
    if status:
        raise RuntimeError(f"hilbert-sd {command} exited with status {status}")
    files = sorted(str(p) for p in Path(out_dir).iterdir() if p.is_file())
    return {"files": files, "summary": text.getvalue().rstrip()}


def early_stopping(out_dir, *, jobs=1, scheduler=None, quiet=False):
    """Self-distillation vs early stopping at matched training error on the reference data
    (the tables and six-panel figures of ``hilbert-sd demo``)."""
    return _via_command("demo", out_dir, quiet)


def noisy_labels(out_dir, *, jobs=1, scheduler=None, quiet=False):
    """The noisy-label experiment of ``hilbert-sd noisy-labels`` at its defaults."""
    return _via_command("noisy-labels", out_dir, quiet)


def soft_labels(out_dir, *, jobs=1, scheduler=None, quiet=False):
    """The soft-label experiment of ``hilbert-sd soft-labels`` at its defaults."""
    return _via_command("soft-labels", out_dir, quiet)
