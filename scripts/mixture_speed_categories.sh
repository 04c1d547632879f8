#!/usr/bin/env bash
# Ten ~10 MB categories of real text from this machine (Debian + the project venv), for the replay-speed
# benchmark (benchmarks/mixture_replay_speed.py): English manpages (3 sections), Debian changelogs, C headers,
# Python (torch, transformers), HTML, JSON, Markdown/reST. Speed only: they are not a language mix.
set -euo pipefail
OUT=${1:-/tmp/mixture-speed}
SP=${2:-$(python3 -c 'import site; print(site.getsitepackages()[0])')}
MB=10000000
mkdir -p "$OUT"/{man1,man3,man58,changelog,c_headers,py_torch,py_transformers,html,json,markdown}
take() { head -c $MB > "$1"; }
find /usr/share/man/man1 -name '*.gz' | sort | xargs zcat 2>/dev/null | take "$OUT/man1/t.txt" || true
find /usr/share/man/man3 -name '*.gz' | sort | xargs zcat 2>/dev/null | take "$OUT/man3/t.txt" || true
find /usr/share/man/man5 /usr/share/man/man8 -name '*.gz' | sort | xargs zcat 2>/dev/null | take "$OUT/man58/t.txt" || true
find /usr/share/doc -name 'changelog*.gz' | sort | xargs zcat 2>/dev/null | take "$OUT/changelog/t.txt" || true
find /usr/include -name '*.h' | sort | xargs cat 2>/dev/null | take "$OUT/c_headers/t.txt" || true
find "$SP/torch" -name '*.py' | sort | xargs cat 2>/dev/null | take "$OUT/py_torch/t.txt" || true
find "$SP/transformers" -name '*.py' | sort | xargs cat 2>/dev/null | take "$OUT/py_transformers/t.txt" || true
find /usr/share/doc /usr/lib/python3 "$SP" -name '*.html' | sort | xargs cat 2>/dev/null | take "$OUT/html/t.txt" || true
find "$SP" -name '*.json' -size -2M | sort | xargs cat 2>/dev/null | take "$OUT/json/t.txt" || true
find "$SP" \( -name '*.md' -o -name '*.rst' \) | sort | xargs cat 2>/dev/null | take "$OUT/markdown/t.txt" || true
du -sh "$OUT"/*
