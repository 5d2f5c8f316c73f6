"""The ``hilbert-sd`` command.

Subcommands live in :mod:`hilbert_sd.commands`, one module each. A module there defines

- ``NAME`` (the subcommand) and ``HELP`` (one line for ``hilbert-sd --help``),
- ``add_arguments(parser)`` to declare its options,
- ``run(args) -> int`` returning the exit status.

They are discovered at start-up, so adding a subcommand never touches this file. Heavy imports
belong inside ``run``.

Exit status: 0 on success, 2 on bad arguments or bad input (one line on stderr, no traceback),
1 on an unexpected failure (one line, plus the traceback with ``--debug``), 141 (quietly) when
the reader of the output stops early, as ``hilbert-sd results DB | head`` does. A command that fails
leaves no directory behind that it created and left empty (``--out``, the directories of
``--store``); files it exports are written to a temporary file and renamed into place
(:func:`atomic_output`), so a failed export leaves the previous file, not a truncated one.
"""

import argparse
import importlib
import os
import pkgutil
import sys
import traceback
from contextlib import contextmanager
from pathlib import Path

__all__ = ["UsageError", "atomic_output", "build_parser", "export_csv", "key_value", "main",
           "output_dir", "param_option"]


class UsageError(Exception):
    """Bad arguments or bad input files: reported on one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse prints the usage block; we want one clean line and status 2.
        raise UsageError(f"{self.prog}: {message}")


_FROM_PARAM = object()


def param_option(parser, flag, param, *, default=_FROM_PARAM, many=False, aliases=None,
                 doc=None, more="", **kwargs):
    """Declare the option ``flag`` from a config parameter: one source for its type, range,
    choices, default and help (the :class:`~hilbert_sd.experiments.schema.Param` of the
    registry that the config validator and the library functions check against).

    Parameters
    ----------
    parser : argparse.ArgumentParser or argument group
    flag : str or tuple of str
        E.g. ``"--ema-a"``, or several spellings ``("--seeds", "--seed")``.
    param : hilbert_sd.experiments.schema.Param
        Usually :func:`hilbert_sd.experiments.registry.parameter`.
    default : object, optional
        The option's default; by default the parameter's (None when it has none).
    many : bool, default=False
        Comma-separated values into a list (:meth:`Param.parse_text`).
    aliases : dict of str to str, optional
        Other spellings accepted on the command line, e.g. ``{"symmetric-other":
        "symmetric_other"}``.
    doc : str, optional
        Help text in place of the parameter's own (where the command gives it another
        meaning, e.g. a seed per data set).
    more : str, optional
        Help text after the parameter's own; the default is not repeated when it says it.
    **kwargs
        Passed to ``add_argument`` (``nargs``, ``metavar``, ``dest``).

    Returns
    -------
    argparse.Action

    Notes
    -----
    A bad value is argparse's one-line error ``argument FLAG: 'VALUE' is out of range;
    allowed: ...`` with exit status 2, before any work.
    """
    aliases = dict(aliases or {})

    def parse(text):
        try:
            return param.parse_text(aliases.get(text, text), many=many)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    if default is _FROM_PARAM:
        default = None if param.required else param.default
    if param.choices is not None and "metavar" not in kwargs:
        kwargs["metavar"] = "{" + ",".join(param.choices) + "}"
    shown = "none" if default is None else (
        ",".join(map(str, default)) if isinstance(default, (list, tuple)) else default)
    text = " ".join(t for t in (param.doc if doc is None else doc, more) if t)
    text = f"{text}; {param.allowed()}"
    if "default" not in text:
        text += f" (default: {shown})"
    flags = (flag,) if isinstance(flag, str) else tuple(flag)
    action = parser.add_argument(*flags, type=parse, default=default,
                                 help=text.replace("%", "%%"), **kwargs)
    action.param, action.aliases = param, aliases  # what the option checks (tests read it)
    return action


def key_value(text):
    """An argparse ``type`` for ``--set KEY=VALUE``: refuse a missing ``=`` or key."""
    key, eq, _ = text.partition("=")
    if not eq or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE; allowed: a config key, "
                                         "'=' and a TOML value, e.g. method.epsilon=0.1")
    return text


def output_dir(value, flag="--out"):
    """``Path`` of an output directory argument (None stays None); refuse an existing file."""
    from pathlib import Path

    if value is None:
        return None
    out = Path(value)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{flag}={value!r} exists and is not a directory")
    return out


@contextmanager
def atomic_output(path):
    """Write a file through a temporary file in its directory, renamed into place at the end.

    Parameters
    ----------
    path : str or path-like
        The file to (re)write.

    Yields
    ------
    pathlib.Path
        The temporary file to write. When the block succeeds it replaces ``path`` atomically
        (``os.replace``); when it fails (a full disk, an interrupt) it is deleted and ``path``
        is left as it was.
    """
    import tempfile

    path = Path(path)
    if path.is_dir():
        raise UsageError(f"{path}: is a directory; give a file name")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                               dir=path.parent if str(path.parent) else ".")
    os.close(fd)
    try:
        if path.exists():
            mode = path.stat().st_mode & 0o7777
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp, mode)
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def export_csv(rows, path):
    """Write the tidy table of ``rows`` as CSV (``"-"``: stdout) through :func:`atomic_output`.

    Returns
    -------
    int
        Number of data rows written.

    Raises
    ------
    OSError
        Naming ``path`` when it cannot be written (e.g. a full disk); ``path`` is unchanged.
    """
    from hilbert_sd.experiments import tables

    if str(path) == "-":
        return tables.write_csv(rows, "-")
    try:
        with atomic_output(path) as tmp:
            return tables.write_csv(rows, tmp)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}; it is left as "
                                 "it was") from None


def _new_dirs(path):
    """Directories that creating ``path`` (a directory) would make, deepest first."""
    made = []
    p = Path(path).absolute()
    while not p.exists() and p != p.parent:
        made.append(p)
        p = p.parent
    return made


def _remove_empty(made):
    for d in made:
        try:
            if d.is_dir() and not any(d.iterdir()):
                d.rmdir()
            else:
                break
        except OSError:
            break


def _command_modules():
    import hilbert_sd.commands as package

    modules = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        if hasattr(module, "NAME") and hasattr(module, "run"):
            modules.append(module)
    return modules


def build_parser():
    """Build the argument parser with every discovered subcommand.

    Returns
    -------
    parser : argparse.ArgumentParser
    """
    from hilbert_sd import __version__

    parser = _Parser(
        prog="hilbert-sd",
        description="Simulate self-distillation in kernel regression.",
    )
    parser.add_argument("--version", action="version", version=f"hilbert-sd {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="print the full traceback on unexpected errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in _command_modules():
        p = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv=None):
    """Run the command line; return the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in argv
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            # argparse's convention for a missing required argument: usage error on stderr
            names = ", ".join(sorted(parser._subparsers._group_actions[0].choices))
            raise UsageError(f"hilbert-sd: a command is required: one of {names} "
                             "(hilbert-sd --help describes them)")
        made = []
        for attr, is_file in (("out", False), ("store", True)):
            value = getattr(args, attr, None)
            if isinstance(value, str) and value:
                made += _new_dirs(Path(value).parent if is_file else value)
        try:
            status = args._run(args)
        except BaseException:
            _remove_empty(made)
            raise
        status = 0 if status is None else int(status)
        if status != 0:
            _remove_empty(made)
        return status
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader of stdout stopped early (``hilbert-sd results DB | head``): what it read
        # is all it wanted. Exit quietly, as a tool killed by SIGPIPE does (status 128 + 13),
        # with stdout pointed at /dev/null so that the interpreter's final flush is silent.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141
    except (ValueError, OSError) as exc:
        # Bad input (values out of range, unreadable or malformed files).
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        if debug:
            traceback.print_exc()
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the last line of defence of the CLI
        print(f"error: unexpected failure: {type(exc).__name__}: {_one_line(exc)}", file=sys.stderr)
        if debug:
            traceback.print_exc()
        else:
            print("(run with --debug for the traceback)", file=sys.stderr)
        return 1


def _one_line(exc):
    return " ".join(str(exc).split())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
