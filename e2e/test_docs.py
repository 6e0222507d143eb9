"""The README and docs/ as a reader sees them: rendered by a CommonMark renderer with GitHub's
tables (PyPI markdown-it-py), every table line lands in a table, every relative link and
anchor leads somewhere, and the README stays short."""
import re
import urllib.parse

import pytest
from markdown_it import MarkdownIt

from conftest import ROOT

PAGES = ["README.md", "CHANGELOG.md", "SECURITY.md", "ARCHITECTURE.md", "BENCHMARKS.md"] + \
        sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def table_lines(text):
    """Lines outside code fences that start a table row."""
    lines, fence = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fence = not fence
        elif not fence and line.startswith("|"):
            lines.append(line)
    return lines


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_cleanly(page):
    text = (ROOT / page).read_text()
    md = MarkdownIt("commonmark").enable("table")
    tokens = md.parse(text)
    html = md.render(text)
    rows = [l for l in table_lines(text) if not re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", l.strip())]
    assert html.count("<tr>") == len(rows), f"{page}: {len(rows)} table lines, {html.count('<tr>')} rendered rows"
    anchors = {slug("".join(c.content for c in t.children or [] if c.type in ("text", "code_inline")))
               for i, t in enumerate(tokens) if t.type == "inline" and tokens[i - 1].type == "heading_open"}
    broken = []
    for href in re.findall(r'href="([^"]+)"', html):
        href = urllib.parse.unquote(href.replace("&amp;", "&"))
        if re.match(r"^[a-z]+:", href):
            continue
        path, _, anchor = href.partition("#")
        target = (ROOT / page).parent / path if path else ROOT / page
        if not target.exists():
            broken.append(href)
        elif anchor and target.suffix == ".md":
            if target == ROOT / page:
                names = anchors
            else:
                other = target.read_text()
                names = {slug(re.sub(r"`", "", h)) for h in re.findall(r"^#+ (.+)$", other, re.M)}
            if anchor not in names:
                broken.append(href)
    assert not broken, f"{page}: links to nothing: {broken}"


def test_readme_is_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 250
