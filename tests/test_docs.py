"""The documentation builds without a single warning (sphinx -W), with no network, and its
pages load nothing remote: the math is typeset by the MathJax copy shipped in the build.

The build runs in a subprocess whose sockets refuse every connection (a ``sitecustomize``
on its path), so a build step or an extension that reaches for the network fails the test.
Every formula of every built page is then typeset by the same MathJax version in node
(when node is installed) and must come out without a TeX error or an undefined macro.
"""

import html
import json
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"

NO_NETWORK = '''
import socket

_connect = socket.socket.connect


def _refuse(self, address):
    if self.family == socket.AF_UNIX:
        return _connect(self, address)
    raise OSError("network access during the docs build: " + repr(address))


socket.socket.connect = _refuse
socket.create_connection = lambda *a, **k: _refuse(socket.socket(), a[0])
'''


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("docs")
    (root / "sitecustomize.py").write_text(NO_NETWORK)
    env = {"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "MPLBACKEND": "Agg",
           "HOME": str(root)}
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q", str(DOCS),
         str(root / "html")],
        capture_output=True, text=True, timeout=600, env=env,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return root / "html"


def _pages(built):
    return sorted(p for p in built.rglob("*.html") if "_static" not in p.parts)


def test_docs_build_warning_free_without_network(built):
    assert (built / "theory.html").exists()
    assert (built / "gallery.html").exists()
    assert (built / "topics" / "backends.html").exists()


def test_pages_load_nothing_remote(built):
    remote = re.compile(r'<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)="(?:https?:)?//',
                        re.IGNORECASE)
    offenders = [p.name for p in _pages(built) if remote.search(p.read_text())]
    assert not offenders, offenders
    # the math pages load the local MathJax, with its fonts and extensions beside it
    theory = (built / "theory.html").read_text()
    assert 'src="_static/mathjax/tex-chtml.js' in theory
    mj = built / "_static" / "mathjax"
    assert (mj / "tex-chtml.js").stat().st_size > 100_000
    assert any((mj / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert (mj / "input" / "tex" / "extensions" / "ams.js").exists() or \
        any((mj / "input" / "tex" / "extensions").glob("*.js"))


MATH = re.compile(r'<(span|div) class="math notranslate nohighlight">(.*?)</\1>', re.DOTALL)

TYPESET = r"""
const [es5, file] = process.argv.slice(2);
const formulas = JSON.parse(require('fs').readFileSync(file, 'utf8'));
require(es5 + '/node-main.js').init({loader: {load: ['input/tex', 'output/svg']}})
  .then((MathJax) => {
    const adaptor = MathJax.startup.adaptor;
    const bad = [];
    formulas.forEach(([page, tex, display], i) => {
      const out = adaptor.outerHTML(MathJax.tex2svg(tex, {display: display}));
      if (out.includes('data-mjx-error') || /fill="red"/.test(out)) bad.push([page, tex]);
    });
    console.log(JSON.stringify({count: formulas.length, bad: bad}));
  })
  .catch((e) => { console.error(e.message); process.exit(1); });
"""


def test_every_formula_typesets_with_the_shipped_mathjax(built, tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the formulas cannot be typeset outside a browser")
    formulas = []
    for page in _pages(built):
        for kind, body in MATH.findall(page.read_text()):
            tex = html.unescape(body).strip()
            display = tex.startswith(r"\[")
            tex = re.sub(r"^\\[\[(]|\\[\])]$", "", tex).strip()
            formulas.append([str(page.relative_to(built)), tex, display])
    assert len(formulas) > 100  # the theory and topic pages are full of math
    (tmp_path / "formulas.json").write_text(json.dumps(formulas))
    (tmp_path / "typeset.js").write_text(TYPESET)
    es5 = metadata.distribution("django-static-mathjax").locate_file("mathjax/static/mathjax/es5")
    proc = subprocess.run([node, str(tmp_path / "typeset.js"), str(es5),
                           str(tmp_path / "formulas.json")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout)
    assert result["count"] == len(formulas)
    assert not result["bad"], result["bad"][:10]


def test_the_package_cites_the_documentation_not_theory_md():
    """Docstrings, comments and shipped configs point to the documentation's own pages
    (:doc:`/theory`, /topics/noisy_labels, ...): users have no theory.md."""
    package = Path(__file__).resolve().parents[1] / "hilbert_sd"
    found = []
    for path in package.rglob("*"):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary data
        found += [f"{path.relative_to(package.parent)}:{i}"
                  for i, line in enumerate(text.splitlines(), 1) if "theory.md" in line]
    assert not found, found


def test_the_pages_cite_no_spec_file_users_do_not_have():
    """The docs link to their own pages, never to the project's internal theory.md."""
    offenders = [str(p.relative_to(DOCS)) for p in DOCS.rglob("*.rst")
                 if "theory.md" in p.read_text()]
    readme = DOCS.parent / "README.md"
    if "theory.md" in readme.read_text():
        offenders.append("README.md")
    assert not offenders, offenders
