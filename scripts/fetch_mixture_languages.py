"""Natural-language categories for mixture inference, as *rendered* text from Debian packages:
translated manual pages rendered with groff, and translated HTML documentation (LibreOffice and GIMP
help, the Debian Administrator's Handbook, Debian Reference, the installation guide, FAQ and
guides) laid out as text with inscriptis; fortune cookies as they are. One text file per page, in
OUT/<language>/<package>/..., and OUT/packages.tsv records each package, its version and the bytes
of text it gave. Packages are fetched with `apt-get download` and unpacked with `dpkg-deb -x` (no
root); rerunning skips what is there.

    python scripts/fetch_mixture_languages.py runs/mixlang --languages de fr es it ru

Rendering: man pages with a 10,000-character line, no hyphenation and no justification, so that a
paragraph is one line of plain words; every page's spaces are collapsed and lines stripped, so that
layout whitespace (indentation, table padding) does not stand in for the language.
"""

from __future__ import annotations

import argparse
import gzip
import re
import subprocess
import sys
from pathlib import Path

# language -> Debian's code in each package family (None: the package does not exist for it)
LANGUAGES = {
    "de": {"man": "de", "lo": "de", "gimp": "de", "handbook": "de-DE", "ref": "de", "guide": "de", "fortune": "de",
           "faq": "de", "maint": "de", "devref": "de"},
    "fr": {"man": "fr", "lo": "fr", "gimp": "fr", "handbook": "fr-FR", "ref": "fr", "guide": "fr", "fortune": None,
           "faq": "fr", "maint": "fr", "devref": "fr"},
    "es": {"man": "es", "lo": "es", "gimp": "es", "handbook": "es-ES", "ref": "es", "guide": "es", "fortune": "es",
           "faq": None, "maint": "es", "devref": None},
    "it": {"man": "it", "lo": "it", "gimp": "it", "handbook": "it-IT", "ref": "it", "guide": "it", "fortune": "it",
           "faq": "it", "maint": "it", "devref": "it"},
    "ru": {"man": "ru", "lo": "ru", "gimp": "ru", "handbook": "ru-RU", "ref": None, "guide": "ru", "fortune": "ru",
           "faq": "ru", "maint": "ru", "devref": "ru"},
    "pt_BR": {"man": "pt-br", "lo": "pt-br", "gimp": "pt-br", "handbook": "pt-BR", "ref": "pt", "guide": "pt", "fortune": None,
              "faq": "pt", "maint": None, "devref": None},
    "pl": {"man": "pl", "lo": "pl", "gimp": None, "handbook": "pl-PL", "ref": None, "guide": None, "fortune": "pl",
           "faq": None, "maint": None, "devref": None},
    "nl": {"man": "nl", "lo": "nl", "gimp": "nl", "handbook": "nl-NL", "ref": None, "guide": "nl", "fortune": None,
           "faq": "nl", "maint": None, "devref": None},
}


def sources(lang: str) -> list[tuple[str, str, str]]:
    """(package, kind, glob of the files inside the unpacked package) for one language."""
    c = LANGUAGES[lang]
    man_dir = c["man"].replace("-br", "_BR") if c["man"] else None
    out = []
    if c["man"]:
        out.append((f"manpages-{c['man']}", "man", f"usr/share/man/{man_dir}/man*/*.gz"))
    if c["lo"]:
        out.append((f"libreoffice-help-{c['lo']}", "html", f"usr/share/libreoffice/help/{c['lo'].replace('-br', '-BR')}/**/*.html"))
    if c["gimp"]:
        out.append((f"gimp-help-{c['gimp']}", "html", f"usr/share/gimp/2.0/help/{c['gimp'].replace('-br', '_BR')}/*.html"))
    if c["handbook"]:
        out.append(("debian-handbook", "html", f"usr/share/doc/debian-handbook/html/{c['handbook']}/*.html"))
    if c["ref"]:
        out.append((f"debian-reference-{c['ref']}", "html", f"usr/share/debian-reference/*.{c['ref']}.html"))
    if c["guide"]:
        out.append(("installation-guide-amd64", "html", f"usr/share/doc/installation-guide-amd64/{c['guide']}/*.html"))
    if c["fortune"]:
        out.append((f"fortunes-{c['fortune']}", "fortune", f"usr/share/games/fortunes/{c['fortune']}/*"))
    if c["faq"]:
        out.append((f"debian-faq-{c['faq']}", "html", f"usr/share/doc/debian/FAQ/{c['faq']}/*.html"))
    if c["maint"]:
        out.append((f"maint-guide-{c['maint']}", "html", f"usr/share/doc/maint-guide-{c['maint']}/html/*.html"))
    if c["devref"]:
        out.append((f"developers-reference-{c['devref']}", "html", f"usr/share/developers-reference/{c['devref']}/*.html"))
    return out


def unpack(pkg: str, cache: Path) -> tuple[Path, str]:
    """The unpacked package (downloaded once) and its version."""
    root = cache / "pkg" / pkg
    debs = sorted((cache / "debs").glob(f"{pkg}_*.deb"))
    if not debs:
        (cache / "debs").mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", pkg], cwd=cache / "debs", check=True, stderr=subprocess.DEVNULL)
        debs = sorted((cache / "debs").glob(f"{pkg}_*.deb"))
    version = subprocess.run(["dpkg-deb", "-f", str(debs[-1]), "Version"], capture_output=True, text=True, check=True).stdout.strip()
    if not (root / ".complete").exists():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(root)], check=True)
        (root / ".complete").touch()
    return root, version


def tidy(text: str) -> str:
    """Lines stripped, runs of spaces collapsed, at most one empty line in a row."""
    lines = (re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def render_man(path: Path) -> str:
    troff = gzip.decompress(path.read_bytes())
    if troff.lstrip().startswith(b".so "):  # a link to another page, rendered under its own name
        return ""
    pre = subprocess.run(["preconv", "-e", "UTF-8"], input=troff, capture_output=True).stdout
    out = subprocess.run(["groff", "-mandoc", "-Tutf8", "-P-cbou", "-rLL=10000n", "-rHY=0", "-dAD=l"],
                         input=pre, capture_output=True).stdout
    return out.decode("utf-8", errors="ignore")


def render_html(path: Path) -> str:
    import inscriptis

    return inscriptis.get_text(path.read_text(encoding="utf-8", errors="ignore"))


def render_fortunes(path: Path) -> str:
    if path.suffix in (".dat", ".u8") or path.is_symlink():
        return ""
    return path.read_text(encoding="utf-8", errors="ignore").replace("\n%\n", "\n\n")


RENDER = {"man": render_man, "html": render_html, "fortune": render_fortunes}


def fetch_language(lang: str, out: Path, cache: Path) -> list[tuple[str, str, str, int, int]]:
    rows = []
    for pkg, kind, pattern in sources(lang):
        root, version = unpack(pkg, cache)
        dest = out / lang / pkg
        done = dest / ".complete"
        if not done.exists():
            dest.mkdir(parents=True, exist_ok=True)
            for i, f in enumerate(sorted(p for p in root.glob(pattern) if p.is_file())):
                text = tidy(RENDER[kind](f))
                if len(text) > 1:
                    (dest / f"{i:05d}-{f.name.split('.')[0][:60]}.txt").write_text(text, encoding="utf-8")
            done.touch()
        files = list(dest.glob("*.txt"))
        rows.append((lang, pkg, version, len(files), sum(f.stat().st_size for f in files)))
        print(f"{lang}\t{pkg}\t{version}\t{rows[-1][3]} files\t{rows[-1][4] / 1e6:.2f} MB", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--languages", nargs="+", default=["de", "fr", "es", "it", "ru"], choices=sorted(LANGUAGES))
    ap.add_argument("--cache", type=Path, help="where .debs and unpacked packages go (default: OUT/.cache)")
    a = ap.parse_args()
    cache = a.cache or a.out / ".cache"
    rows = [r for lang in a.languages for r in fetch_language(lang, a.out, cache)]
    table = a.out / "packages.tsv"
    old = {tuple(line.split("\t")[:2]): line for line in table.read_text().splitlines()[1:]} if table.exists() else {}
    old.update({(r[0], r[1]): "\t".join(map(str, r)) for r in rows})
    table.write_text("language\tpackage\tversion\tfiles\tbytes\n" + "\n".join(old[k] for k in sorted(old)) + "\n")
    for lang in a.languages:
        total = sum(r[4] for r in rows if r[0] == lang)
        print(f"{lang}: {total / 1e6:.1f} MB of rendered text", file=sys.stderr)


if __name__ == "__main__":
    main()
