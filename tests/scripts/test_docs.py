"""The documentation: the site builds without warnings, the README stays short, links stay
inside the repository, and the docstrings' section references resolve.

Link rule (docs/developer-guide.md, "The documentation"): every Markdown link in README.md and
docs/**/*.md is relative and resolves to a file inside the repository (or to a page the MkDocs
hook generates), with an optional #anchor; no URL scheme (http, https, mailto, …), no absolute
path, nothing above the repository root.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _hook():
    spec = importlib.util.spec_from_file_location("deck_reference_hook", DOCS / "hooks" / "deck_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mkdocs_build_strict(tmp_path):
    """`mkdocs build --strict`: any warning (broken link or anchor, page missing from the nav,
    hook error) fails the build."""
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for page in _hook().GENERATED_PAGES:
        assert (tmp_path / page.replace(".md", ".html")).is_file(), page


def test_readme_at_most_200_lines():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200, f"README.md has {len(lines)} lines; move detail into docs/"


_FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
_CODE = re.compile(r"`[^`\n]*`")
_INDENTED = re.compile(r"^(?: {4}|\t).*$", re.M)
_INLINE = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFDEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s.*)?$", re.M)
_AUTOLINK = re.compile(r"<([a-zA-Z][a-zA-Z0-9+.-]*:[^>\s]*)>")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _markdown_files():
    return [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]


def _links(text: str):
    """Link targets of a Markdown text, code blocks and code spans left out."""
    text = _FENCE.sub("", text)
    text = _INDENTED.sub("", text)
    text = _CODE.sub("", text)
    return _INLINE.findall(text) + _REFDEF.findall(text) + _AUTOLINK.findall(text)


def _link_problem(md: Path, target: str, generated: set) -> str | None:
    if _SCHEME.match(target):
        return "a URL (links must stay inside the repository; cite papers in the text)"
    path = target.split("#", 1)[0]
    if not path:
        return None  # an anchor on the same page (the strict build checks it)
    if path.startswith("/"):
        return "an absolute path"
    resolved = (md.parent / path).resolve()
    try:
        rel = resolved.relative_to(ROOT)
    except ValueError:
        return "outside the repository"
    if "shared" in rel.parts[:1]:
        return "into shared/, which is not part of the repository"
    if resolved.exists():
        return None
    try:
        if resolved.relative_to(DOCS).as_posix() in generated:
            return None
    except ValueError:
        pass
    return "no such file"


def test_links_stay_inside_the_repository():
    generated = set(_hook().GENERATED_PAGES)
    problems = []
    for md in _markdown_files():
        for target in _links(md.read_text()):
            problem = _link_problem(md, target, generated)
            if problem:
                problems.append(f"{md.relative_to(ROOT)}: ({target}) is {problem}")
    assert not problems, "\n".join(problems)


def test_link_checker_catches_bad_links():
    md = DOCS / "index.md"
    generated = set(_hook().GENERATED_PAGES)
    assert _links("see [a](http://x.org) and ![f](figures/a.png) and `[b](c.md)` and <https://y>") == [
        "http://x.org", "figures/a.png", "https://y"]
    assert _link_problem(md, "https://arxiv.org", generated)
    assert _link_problem(md, "../../shared/docs/model-diffusion-qke.md", generated)
    assert _link_problem(md, "missing.md#x", generated)
    assert _link_problem(md, "/etc/passwd", generated)
    assert _link_problem(md, "models/diffusion-qke.md#4-space-expansion-seeds-and-boundaries", generated) is None
    assert _link_problem(md, "reference/deck-qke.md", generated) is None


_SECTION_REF = re.compile(r"(docs/[\w./-]+\.md)\s+((?:§\s*[\dA-Z.()–-]+(?:,\s*)?)+)")


def _headings(page: Path):
    numbers = set()
    for line in page.read_text().splitlines():
        m = re.match(r"^#{2,6}\s+(\d+(?:\.\d+)*)\.?\s", line)
        if m:
            numbers.add(m.group(1))
        m = re.match(r"^\*\*\(([A-Z])\)", line)
        if m:
            numbers.add(m.group(1))
    return numbers


@pytest.mark.parametrize("package", ["physics", "kernels", "lattice", "scripts"])
def test_docstring_section_references_resolve(package):
    """Every `docs/<page>.md §N` in the code names an existing page with a section numbered N
    (ranges §N–M: both ends; §3(C): section 3 and its case (C))."""
    problems = []
    for py in sorted((ROOT / package).rglob("*.py")):
        text = py.read_text()
        for page, refs in _SECTION_REF.findall(text):
            path = ROOT / page
            if not path.is_file():
                problems.append(f"{py.relative_to(ROOT)}: {page} does not exist")
                continue
            numbers = _headings(path)
            for ref in re.split(r"§", refs)[1:]:
                for part in re.findall(r"\d+(?:\.\d+)*|\([A-Z]\)", ref):
                    key = part.strip("()")
                    if key not in numbers:
                        problems.append(f"{py.relative_to(ROOT)}: {page} has no section {part}")
        for stale in ("model notes", "shared/docs", "model-diffusion-qke.md", "model-pauli-boltzmann.md"):
            if stale in text:
                problems.append(f"{py.relative_to(ROOT)}: cites {stale!r}; cite the docs page instead")
    assert not problems, "\n".join(problems)
