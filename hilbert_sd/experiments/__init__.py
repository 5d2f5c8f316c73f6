"""Experiments at scale: declarative TOML configs, resumable sweeps, a SQLite results store.

See :doc:`/topics/experiments` for the config format and the ``hilbert-sd run``, ``sweep``,
``results`` and ``reproduce`` commands.
"""
