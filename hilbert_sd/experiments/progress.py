"""Progress of a sweep on the terminal: a bar on a terminal, plain lines otherwise."""

import math
import sys
import time

__all__ = ["Progress"]


class Progress:
    """A bar on a terminal (redrawn at most every 0.1 s), plain lines every 5 s otherwise.

    Parameters
    ----------
    total : int
        Simulations to run.
    stream : file-like, optional
        Where the lines go (default ``sys.stderr``).
    enabled : bool, default=True
    """

    def __init__(self, total, *, stream=None, enabled=True):
        self.total = total
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled and total > 0
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self._last = -math.inf

    def update(self, done, failed):
        """Show ``done + failed`` of ``total`` finished (the last update always shows)."""
        if not self.enabled:
            return
        now = time.monotonic()
        finished = done + failed >= self.total
        if not finished and now - self._last < (0.1 if self.tty else 5.0):
            return
        self._last = now
        n = done + failed
        elapsed = now - self.start
        eta = elapsed / n * (self.total - n) if n else float("nan")
        text = (f"sweep: {n}/{self.total} ({100 * n / self.total:.0f}%), "
                f"{failed} failed, {elapsed:.1f} s elapsed"
                + ("" if finished or not n else f", ~{eta:.0f} s left"))
        if self.tty:
            width = 24
            filled = int(width * n / self.total)
            bar = "#" * filled + "." * (width - filled)
            self.stream.write(f"\r[{bar}] {text}\x1b[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self):
        """End the bar's line (on a terminal)."""
        if self.enabled and self.tty:
            self.stream.write("\n")
            self.stream.flush()
