#!/usr/bin/env bash
# Held-out English text outside the stdlib-documentation domain, for benchmarks/distill_smollm2.py --ood:
# Debian's `fortunes` package (quotations, jokes, poems; `apt-get download` + `dpkg-deb -x`, no root),
# 15 of its categories (none about computers), the first 6,000 characters of each as two documents of
# 3,000: 30 documents, 90,000 characters.
#
#   bash scripts/fetch_fortunes_heldout.sh [OUT_DIR]      # writes OUT_DIR/fortunes.jsonl (default runs/ood)
set -euo pipefail
OUT="${1:-runs/ood}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
if [ ! -d "$OUT/pkg/usr/share/games/fortunes" ]; then
    (cd "$OUT" && apt-get download fortunes)
    dpkg-deb -x "$OUT"/fortunes_*.deb "$OUT/pkg"
fi
"$PY" - "$OUT" <<'PYEOF'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
src = out / "pkg/usr/share/games/fortunes"
cats = ["art", "education", "food", "humorists", "law", "love", "medicine", "people", "pets", "politics", "science",
        "songs-poems", "sports", "wisdom", "work"]
with open(out / "fortunes.jsonl", "w", encoding="utf-8") as f:
    for c in cats:
        text = "\n\n".join(t.strip() for t in (src / c).read_text(encoding="utf-8", errors="replace").split("\n%\n") if t.strip())
        for i in range(0, min(len(text), 6000), 3000):
            f.write(json.dumps({"text": text[i:i + 3000], "source": c}) + "\n")
print(out / "fortunes.jsonl")
PYEOF
