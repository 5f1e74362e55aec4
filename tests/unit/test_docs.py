"""Every document reference resolves: a new user who follows one finds what it names.

Checked in README.md, docs/*.md, exops/lab/README.md and every source comment or
string (exops/, runbooks/, templates/, scripts/, bench/, tests/):

- ``docs/X`` names a file of the repository;
- ``domain N`` / ``domain N.M`` / ``domain doc section N`` (also lists and ranges:
  ``domain 3.1-3.4, 3.6``) names a section of docs/domain.md, and so does each
  value of README's "domain doc" column;
- ``contract N`` / ``contract.md section N`` names a section of docs/contract.md;
- a Markdown link in those documents names a file that exists and, with
  ``#anchor``, a heading of that file;
- docs/README.md lists every document of docs/, and README.md links it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from paths import REPO

DOCS = REPO / "docs"
# A reference to a document another change is adding, with that change: it may be
# missing for now, and is checked like any other once it exists.
PENDING: dict[str, str] = {}  # a cited doc not written yet -> the issue that brings it

_NUMBER = r"\d+(?:\.\d+)?"
_LIST = rf"{_NUMBER}(?:\s*(?:-|,|and)\s*{_NUMBER})*"
DOMAIN_REF = re.compile(rf"\bdomain(?:\s+doc)?(?:\s+sections?)?\s+({_LIST})", re.IGNORECASE)
CONTRACT_REF = re.compile(
    rf"\bcontract(?:\.md)?(?:\s+sections?)?\s+({_LIST})(?![\w-])", re.IGNORECASE
)
DOCS_PATH = re.compile(r"(?<![\w./-])docs/[\w./-]*\w")
MD_LINK = re.compile(r"\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*$", re.MULTILINE)
SECTION = re.compile(r"^#{2,3}\s+(\d+(?:\.\d+)?)\.?\s", re.MULTILINE)

SOURCE_DIRS = ("exops", "runbooks", "templates", "scripts", "bench", "tests")
SOURCE_SUFFIXES = {".py", ".toml", ".yaml", ".yml", ".j2", ".sh", ".md", ".txt"}


def _documents() -> list[Path]:
    return [REPO / "README.md", *sorted(DOCS.glob("*.md")), REPO / "exops/lab/README.md"]


def _sources() -> Iterator[Path]:
    yield from _documents()
    for top in SOURCE_DIRS:
        for path in sorted((REPO / top).rglob("*")):
            if (
                path.is_file()
                and path.suffix in SOURCE_SUFFIXES
                and "__pycache__" not in path.parts
                and path != Path(__file__).resolve()
                and "fixtures" not in path.parts  # appliance answers and logs, not prose
            ):
                yield path


def _where(path: Path, text: str, pos: int) -> str:
    return f"{path.relative_to(REPO)}:{text.count(chr(10), 0, pos) + 1}"


def sections(doc: Path) -> set[str]:
    """The numbered sections of a document: "## 3. Title" -> 3, "### 3.1 Title" -> 3.1."""
    return {m.group(1) for m in SECTION.finditer(doc.read_text())}


def expand(refs: str) -> list[str]:
    """``3.1-3.4, 3.6`` -> 3.1 3.2 3.3 3.4 3.6; ``1-2`` -> 1 2."""
    out: list[str] = []
    for item in re.split(r"\s*(?:,|\band\b)\s*", refs.strip()):
        first, _, last = (p.strip() for p in item.partition("-"))
        if not last:
            out.append(first)
            continue
        a, b = first.split("."), last.split(".")
        if len(a) == len(b) == 1:
            out += [str(n) for n in range(int(a[0]), int(b[0]) + 1)]
        elif len(a) == len(b) == 2 and a[0] == b[0]:
            out += [f"{a[0]}.{n}" for n in range(int(a[1]), int(b[1]) + 1)]
        else:
            out += [first, last]
    return out


def slug(heading: str) -> str:
    """A heading's anchor as GitHub makes it."""
    text = re.sub(r"[`*_]|\[|\]\([^)]*\)", "", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _numbered_refs(pattern: re.Pattern[str], known: set[str]) -> list[str]:
    bad = []
    for path in _sources():
        text = path.read_text(errors="replace")
        for m in pattern.finditer(text):
            missing = [n for n in expand(m.group(1)) if n not in known]
            if missing:
                bad.append(f"{_where(path, text, m.start())}: {m.group(0)!r} -> no {missing}")
    return bad


def test_the_section_parser_and_ranges() -> None:
    assert expand("3.1-3.4, 3.6") == ["3.1", "3.2", "3.3", "3.4", "3.6"]
    assert expand("1-2") == ["1", "2"]
    assert expand("4, 5") == ["4", "5"]
    assert [
        m.group(1) for m in DOMAIN_REF.finditer("(Domain doc section 5) domain 3.3, step 2")
    ] == ["5", "3.3"]
    assert slug("1. The cluster model") == "1-the-cluster-model"
    assert slug("### 3.7 Cluster address mapping (Expressway-E, e.g. Mobile)".lstrip("# ")) == (
        "37-cluster-address-mapping-expressway-e-eg-mobile"
    )


def test_domain_doc_has_the_cited_sections() -> None:
    """The numbering the code was written against: 1-6 and 3.1-3.9."""
    got = sections(DOCS / "domain.md")
    assert {str(n) for n in range(1, 7)} | {f"3.{n}" for n in range(1, 10)} <= got


def test_every_domain_reference_names_a_section_of_docs_domain_md() -> None:
    known = sections(DOCS / "domain.md")
    bad = _numbered_refs(DOMAIN_REF, known)
    assert not bad, "domain references to no section of docs/domain.md:\n" + "\n".join(bad)


def _cells(row: str) -> list[str]:
    """A Markdown table row's cells (``\\|`` inside a cell is not a separator)."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip().strip("|"))]


def test_readme_domain_doc_column_names_sections_of_docs_domain_md() -> None:
    known = sections(DOCS / "domain.md")
    lines = (REPO / "README.md").read_text().splitlines()
    header = next(
        i for i, line in enumerate(lines) if line.startswith("|") and "domain doc" in line
    )
    column = _cells(lines[header]).index("domain doc")
    seen, bad = 0, []
    for line in lines[header + 2 :]:
        if not line.startswith("|"):
            break
        cell = _cells(line)[column]
        if cell:
            seen += 1
            bad += [f"README.md: {line[:50]}...: {n}" for n in expand(cell) if n not in known]
    assert seen >= 10 and not bad, bad


def test_every_contract_reference_names_a_section_of_docs_contract_md() -> None:
    bad = _numbered_refs(CONTRACT_REF, sections(DOCS / "contract.md"))
    assert not bad, "contract references to no section of docs/contract.md:\n" + "\n".join(bad)


def test_every_docs_path_names_a_file_of_the_repository() -> None:
    bad = []
    for path in _sources():
        text = path.read_text(errors="replace")
        for m in DOCS_PATH.finditer(text):
            name = m.group(0).rstrip(".")
            if not (REPO / name).exists() and name not in PENDING:
                bad.append(f"{_where(path, text, m.start())}: {name}")
    assert not bad, "references to files that do not exist:\n" + "\n".join(bad)


def test_pending_entries_are_still_cited() -> None:
    """A PENDING entry nothing cites any more goes (once its file lands it is checked
    like every other reference, the entry harmless until removed)."""
    cited = {
        m.group(0).rstrip(".")
        for p in _sources()
        for m in DOCS_PATH.finditer(p.read_text(errors="replace"))
    }
    stale = set(PENDING) - cited
    assert not stale, f"not cited any more, remove from PENDING: {stale}"


@pytest.mark.parametrize("doc", _documents(), ids=lambda p: str(p.relative_to(REPO)))
def test_markdown_links_resolve(doc: Path) -> None:
    bad = []
    text = doc.read_text()
    for m in MD_LINK.finditer(text):
        target = m.group(1)
        if re.match(r"[a-z]+:", target) or target.startswith("<"):
            continue  # a URL
        file_part, _, anchor = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.exists():
            bad.append(f"{_where(doc, text, m.start())}: {target}: no such file")
        elif anchor and dest.suffix == ".md":
            anchors = {slug(h) for h in HEADING.findall(dest.read_text())}
            if anchor not in anchors:
                bad.append(f"{_where(doc, text, m.start())}: {target}: no such heading")
    assert not bad, "\n".join(bad)


def test_the_docs_index_lists_every_document_and_readme_links_it() -> None:
    index = (DOCS / "README.md").read_text()
    linked = {(DOCS / t.partition("#")[0]).resolve() for t in MD_LINK.findall(index)}
    unlisted = [
        p.name for p in sorted(DOCS.glob("*.md")) if p.name != "README.md" and p not in linked
    ]
    assert not unlisted, f"docs/README.md does not list {unlisted}"
    assert "team-mode.md" in index
    assert "docs/README.md" in (REPO / "README.md").read_text()
