"""`run_curate`: raw sources in, a corpus artifact out.

    plan shards ─▶ map (per shard, in parallel: read, normalize, language, heuristics, PII,
    decontamination, dedup keys, quality score) ─▶ reduce (exact and near dedup, quality cut,
    mixture) ─▶ data/part-NNNNN.parquet, rejects/part-NNNNN.parquet, stats.json, report.html

Everything is written inside the ArtifactWriter's partial directory; a killed run keeps the
finished shards there and a rerun with the same recipe and inputs goes on from them. The output
depends only on the recipe and the inputs, never on the executor or the number of workers.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pintsize.artifacts import ArtifactWriter, atomic_write_json
from pintsize.curate.config import DataConfig
from pintsize.curate.corpus_io import rejects_table, write_table
from pintsize.curate.executors import Executor, run_tasks
from pintsize.curate.records import Removed
from pintsize.curate.reduce import Decisions, decide
from pintsize.curate.shard_worker import KEPT, REJECTS, CurateShardStep, read_shard_stats, shard_dir
from pintsize.curate.shards import ShardSpec, plan_shards, source_base
from pintsize.curate.stats import TOKEN_UNIT, Funnel
from pintsize.errors import DataError, PintsizeError

STAGE = "curate"
_INDEX_COLUMNS = ["id", "source", "tokens", "exact_key", "bands"]


def run_curate(
    config: DataConfig, out: Path, executor: Executor = "local", address: str | None = None, workers: int | None = None
) -> Path:
    if not config.sources:
        raise DataError("[data].sources is empty: add a source (or remove the key to curate the stdlib docs)")
    if config.quality.model:
        from pintsize.curate.quality import QualityModel

        QualityModel.load(config.quality.model)  # fail now, with a clear message, not in a worker
    out = Path(out)
    shards = plan_shards(config)
    with ArtifactWriter(out, STAGE, config, inputs=_inputs(config)) as art:
        work = art.dir / "work"
        work.mkdir(exist_ok=True)
        decontam = _decontam_index(config, work)
        step = CurateShardStep(config, shards, work, decontam)
        _forget_lost_shards(shards, work, art.dir / "logs")
        with _progress(len(shards), work):
            run_tasks(step, len(shards), art.dir / "logs", executor, address, workers)
        failed = [s.index for s in shards if not shard_dir(work, s.index).is_dir()]
        if failed:
            raise PintsizeError(
                f"{len(failed)} of {len(shards)} shards failed (first: shard {failed[0]}); task logs are in "
                f"{art.dir / 'logs' / 'logs'}; run again to redo only those"
            )
        stats = _reduce_and_write(config, shards, work, art.dir)
        from pintsize.curate.report import write_report

        title = "pintsize curate: " + ", ".join(s.name for s in config.sources)
        write_report(stats, art.dir / "report.html", title=title)
        shutil.rmtree(work)
        shutil.rmtree(art.dir / "logs", ignore_errors=True)
        art.stats.update(sources=stats["sources"], shards=len(shards))
    return out


def _forget_lost_shards(shards: list[ShardSpec], work: Path, logs: Path) -> None:
    """A shard is done when its directory exists; drop datatrove's completion mark of any shard
    whose directory is gone, so that the executor runs it again."""
    for s in shards:
        if not shard_dir(work, s.index).is_dir():
            (logs / "completions" / f"{s.index:05d}").unlink(missing_ok=True)


def _inputs(config: DataConfig) -> dict[str, Path]:
    inputs = source_inputs(config)
    for i, p in enumerate(config.decontamination.paths):
        inputs[f"eval:{i}"] = Path(p)
    if config.quality.model:
        from pintsize.curate.quality import resolve_model_path

        inputs["quality_model"] = resolve_model_path(config.quality.model)
    return inputs


def source_inputs(config: DataConfig) -> dict[str, Path]:
    """The raw sources as artifact inputs (hashed into a stage's fingerprint): a path, or the
    folder a glob pattern starts from."""
    inputs: dict[str, Path] = {}
    for s in config.sources:
        if s.format == "pydoc":
            from pintsize.data.pydoc_corpus import write_pydoc_corpus

            inputs[f"source:{s.name}"] = write_pydoc_corpus()
        else:
            p = Path(os.path.expanduser(s.path))
            inputs[f"source:{s.name}"] = p if p.exists() else source_base(s)
    return inputs


def _decontam_index(config: DataConfig, work: Path) -> Path | None:
    if not config.decontamination.paths:
        return None
    from pintsize.curate.decontam import DecontamIndex

    path = work / "decontam.npz"
    if not path.is_file():
        tmp = work / f".decontam.tmp-{os.getpid()}.npz"
        DecontamIndex.build(config.decontamination.paths, config.decontamination.ngram).save(tmp)
        os.replace(tmp, path)
    return path


@contextmanager
def _progress(total: int, work: Path):
    """A progress bar of finished shards (counted on disk, so it works for every executor)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    console = Console(stderr=True)
    columns = (TextColumn("curate"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    stop = threading.Event()
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("shards", total=total)

        def poll() -> None:
            while not stop.wait(0.5):
                bar.update(task, completed=sum(1 for _ in work.glob("shard-*")))

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


def _reduce_and_write(config: DataConfig, shards: list[ShardSpec], work: Path, out: Path) -> dict:
    columns = _INDEX_COLUMNS + (["quality_score"] if config.quality.model else [])
    index = pa.concat_tables([pq.read_table(shard_dir(work, s.index) / KEPT, columns=columns) for s in shards])
    funnel = Funnel()
    for s in shards:
        funnel.add(read_shard_stats(work, s.index))
    read = sum(c["docs_in"] for c in funnel.steps["read"].values())  # every document read, quarantined ones too
    decisions = decide(index, config, input_documents=read)

    output = Counter()
    offset = 0
    for s in shards:
        table = pq.read_table(shard_dir(work, s.index) / KEPT)
        n = table.num_rows
        data, rejects = _split_shard(table, decisions, offset, funnel, output)
        map_rejects = pq.read_table(shard_dir(work, s.index) / REJECTS)
        rejects = pa.concat_tables([map_rejects, rejects_table(rejects)])
        if data.num_rows:
            write_table(data, out / "data" / f"part-{s.index:05d}.parquet")
        if rejects.num_rows:
            write_table(rejects, out / "rejects" / f"part-{s.index:05d}.parquet")
        offset += n
    for sub, empty in (("data", _data_schema(config).empty_table()), ("rejects", rejects_table([]))):
        if not any((out / sub).glob("part-*.parquet")):
            write_table(empty, out / sub / "part-00000.parquet")

    names = [s.name for s in config.sources]
    sources = funnel.sources_summary(names)
    for name in names:
        sources[name]["output_docs"] = output[(name, "docs")]  # mixture repeats included
        sources[name]["output_tokens"] = output[(name, "tokens")]
    funnel_stats = funnel.ordered()
    contamination = funnel_stats.pop("decontamination")
    stats = {
        "token_unit": TOKEN_UNIT,
        "shards": len(shards),
        "sources": sources,
        **funnel_stats,
        "decontamination": {"mode": config.decontamination.mode, "sets": contamination}
        if config.decontamination.paths
        else None,
        **decisions.summary,
    }
    atomic_write_json(out / "stats.json", stats)
    return stats


def _data_schema(config: DataConfig) -> pa.Schema:
    fields = [("id", pa.string()), ("text", pa.string()), ("source", pa.string()), ("meta", pa.string())]
    if config.quality.model:
        fields.append(("quality_score", pa.float64()))
    return pa.schema(fields)


def _split_shard(
    table: pa.Table, decisions: Decisions, offset: int, funnel: Funnel, output: Counter
) -> tuple[pa.Table, list[Removed]]:
    """The shard's output rows (repeated as the mixture says) and the documents the reduce
    steps removed; books the reduce steps in the funnel."""
    ids = table.column("id").to_pylist()
    texts = table.column("text").to_pylist()
    sources = table.column("source").to_pylist()
    metas = table.column("meta").to_pylist()
    tokens = table.column("tokens").to_pylist()
    keep_rows: list[int] = []
    out_ids: list[str] = []
    rejects: list[Removed] = []
    for r in range(table.num_rows):
        i = offset + r
        copies = int(decisions.copies[i])
        for step in decisions.steps:
            if decisions.removed_at[i] == step:
                meta = {**json.loads(metas[r]), **(decisions.extra_meta[i] or {})}
                item = Removed(ids[r], sources[r], texts[r], meta, step, decisions.reason[i])
                funnel.removed(item, tokens[r])
                rejects.append(item)
                break
            funnel.passed(step, sources[r], tokens[r], tokens[r] * copies if step == "mixture" else tokens[r])
        for c in range(copies):
            keep_rows.append(r)
            out_ids.append(ids[r] if c == 0 else f"{ids[r]}#copy{c}")
        output[(sources[r], "docs")] += copies
        output[(sources[r], "tokens")] += tokens[r] * copies
    data = table.take(pa.array(np.array(keep_rows, dtype=np.int64)))
    keep = ["text", "source", "meta"] + (["quality_score"] if "quality_score" in table.column_names else [])
    data = pa.table({"id": pa.array(out_ids, pa.string()), **{c: data.column(c) for c in keep}})
    return data, rejects
