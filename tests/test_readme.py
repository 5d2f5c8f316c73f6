"""The first code a newcomer runs prints what its comments say (issue 14).

The README's and the getting-started page's "Five lines" snippet is run as written, in a fresh
interpreter with warnings turned into errors; every ``# -> a / b`` comment lists the lines the
statement before it prints, and they must match the output exactly.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _readme_snippet():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Five lines\n\n```python\n(.*?)```", text, re.DOTALL)
    return block.group(1)


def _getting_started_snippet():
    text = (ROOT / "docs" / "getting_started.rst").read_text()
    section = text[text.index("Five lines"):]
    block = re.search(r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", section).group(1)
    return "\n".join(line[3:] for line in block.rstrip("\n").splitlines()) + "\n"


def _expected(snippet):
    lines = []
    for comment in re.findall(r"#\s*->\s*(.*)$", snippet, re.MULTILINE):
        body = re.split(r"\s{2,}", comment.strip())[0]  # what follows two spaces is prose
        lines += [part.strip() for part in body.split(" / ")]
    return lines


@pytest.mark.parametrize("where", ["README.md", "docs/getting_started.rst"])
def test_five_lines_print_what_their_comments_say(where):
    snippet = _readme_snippet() if where == "README.md" else _getting_started_snippet()
    expected = _expected(snippet)
    assert len(expected) == 4  # the ridges, then rounds 0, 1, 2
    out = subprocess.run([sys.executable, "-W", "error", "-c", snippet], capture_output=True,
                         text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]  # no warning either (-W error)
    assert out.stdout.splitlines() == expected


def test_both_pages_show_the_same_snippet():
    assert _readme_snippet() == _getting_started_snippet()
