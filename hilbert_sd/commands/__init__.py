"""Subcommands of ``hilbert-sd``; see :mod:`hilbert_sd.cli` for the protocol."""
