#!/usr/bin/env bash
# Category text for the mixture-inference experiments, all from this machine (Debian base system):
# English prose (pydoc), German/French manpages, Python code (stdlib), HTML markup (/usr/share/doc, python docs).
set -euo pipefail
OUT=${1:-/tmp/mixture-categories}
mkdir -p "$OUT"/{english,german,french,python,markup}
python3 -c "import pydoc,sys; [print(pydoc.render_doc(m, renderer=pydoc.plaintext)) for m in ['os','re','json','collections','itertools','functools','pathlib','typing','argparse','logging','subprocess','threading','asyncio','email','http.client','unittest','sqlite3','csv','datetime','decimal']]" > "$OUT/english/pydoc.txt" 2>/dev/null || true
find /usr/share/man/de -name '*.gz' | sort | xargs zcat > "$OUT/german/man.txt" 2>/dev/null || true
find /usr/share/man/fr -name '*.gz' | sort | xargs zcat > "$OUT/french/man.txt" 2>/dev/null || true
find /usr/lib/python3.11 -maxdepth 1 -name '*.py' | sort | xargs cat > "$OUT/python/stdlib.py"
find /usr/share/doc /usr/lib/python3 -name '*.html' | sort | xargs cat > "$OUT/markup/docs.html" 2>/dev/null || true
du -sh "$OUT"/*
