"""The ``hilbert-sd`` command.

Subcommands live in :mod:`hilbert_sd.commands`, one module each. A module there defines

- ``NAME`` (the subcommand) and ``HELP`` (one line for ``hilbert-sd --help``),
- ``add_arguments(parser)`` to declare its options,
- ``run(args) -> int`` returning the exit status.

They are discovered at start-up, so adding a subcommand never touches this file. Heavy imports
belong inside ``run``.

Exit status: 0 on success, 2 on bad arguments or bad input (one line on stderr, no traceback),
1 on an unexpected failure (one line, plus the traceback with ``--debug``).
"""

import argparse
import importlib
import pkgutil
import sys
import traceback

__all__ = ["UsageError", "main", "build_parser", "output_dir", "stderr_progress"]


class UsageError(Exception):
    """Bad arguments or bad input files: reported on one line with exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # argparse prints the usage block; we want one clean line and status 2.
        raise UsageError(f"{self.prog}: {message}")


def output_dir(value, flag="--out"):
    """``Path`` of an output directory argument (None stays None); refuse an existing file."""
    from pathlib import Path

    if value is None:
        return None
    out = Path(value)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{flag}={value!r} exists and is not a directory")
    return out


def stderr_progress(line):
    """Progress callback of the subcommands: one plain line on stderr."""
    print(line, file=sys.stderr, flush=True)


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
            parser.print_help()
            return 2
        status = args._run(args)
        return 0 if status is None else int(status)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
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
