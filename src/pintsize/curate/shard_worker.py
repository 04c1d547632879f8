"""The map stage: one shard in, its surviving documents (with dedup keys and quality scores),
its rejects and its funnel out, as `work/shard-NNNNN/`.

It runs as a datatrove pipeline step, one task per shard, under datatrove's local or Ray
executor. A shard directory appears (by rename) only when complete, so a killed run leaves only
whole shards, and a rerun skips them.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
from datatrove.pipeline.base import PipelineStep

from pintsize.artifacts import atomic_write_json, hash_config
from pintsize.curate.config import DataConfig
from pintsize.curate.corpus_io import meta_json, rejects_table, write_table
from pintsize.curate.readers import read_shard
from pintsize.curate.records import Removed, words
from pintsize.curate.shards import ShardSpec
from pintsize.curate.stats import Funnel

KEPT = "kept.parquet"
REJECTS = "rejects.parquet"
STATS = "stats.json"

# Models are loaded once per worker process, not once per shard.
_CACHE: dict[tuple, object] = {}


def shard_dir(work: Path, index: int) -> Path:
    return work / f"shard-{index:05d}"


def _cached(key: tuple, make):
    if key not in _CACHE:
        _CACHE[key] = make()
    return _CACHE[key]


def process_shard(spec: ShardSpec, config: DataConfig, work: Path, decontam_index: Path | None) -> Path:
    final = shard_dir(work, spec.index)
    if final.is_dir():
        return final  # finished by an earlier run
    from pintsize.curate.dedup import DedupKeys
    from pintsize.curate.steps import DocumentSteps

    key = (hash_config(config), str(decontam_index))
    steps: DocumentSteps = _cached(("steps", *key), lambda: DocumentSteps(config, decontam_index))
    dedup = DedupKeys(config.dedup)
    source = config.sources[spec.source]
    funnel = Funnel()
    kept, rejects = [], []
    for item in read_shard(spec, source, config.max_doc_bytes):
        if isinstance(item, Removed):
            funnel.removed(item, words(item.text))
            rejects.append(item)
            continue
        funnel.passed("read", source.name, words(item.text))
        outcome = steps.run(item, source, funnel)
        (rejects if isinstance(outcome, Removed) else kept).append(outcome)

    simple = [dedup.simplify(d.text) for d in kept] if (config.dedup.exact or config.dedup.near) else []
    columns = {
        "id": pa.array([d.id for d in kept], pa.string()),
        "text": pa.array([d.text for d in kept], pa.string()),
        "source": pa.array([source.name] * len(kept), pa.string()),
        "meta": pa.array([meta_json(d.metadata["meta"]) for d in kept], pa.string()),
        "tokens": pa.array([words(d.text) for d in kept], pa.int64()),
        "exact_key": pa.array([dedup.exact_key(s) for s in simple] if config.dedup.exact else [0] * len(kept), pa.uint64()),
        "bands": pa.array(
            [dedup.band_keys(s).tolist() for s in simple] if config.dedup.near else [[]] * len(kept), pa.list_(pa.uint64())
        ),
    }
    if config.quality.model:
        from pintsize.curate.quality import QualityModel

        model = _cached(("quality", config.quality.model), lambda: QualityModel.load(config.quality.model))
        scores = model.score([d.text for d in kept]) if kept else np.empty(0)
        columns["quality_score"] = pa.array(scores, pa.float64())

    tmp = work / f".{final.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    write_table(pa.table(columns), tmp / KEPT)
    write_table(rejects_table(rejects), tmp / REJECTS)
    atomic_write_json(tmp / STATS, funnel.to_dict())
    os.replace(tmp, final)
    return final


def read_shard_stats(work: Path, index: int) -> dict:
    return json.loads((shard_dir(work, index) / STATS).read_text())


class CurateShardStep(PipelineStep):
    """datatrove pipeline step: task `rank` curates shard `rank`."""

    name = "pintsize curate"
    type = "🧹 - CURATE"

    def __init__(self, config: DataConfig, shards: list[ShardSpec], work: Path, decontam_index: Path | None):
        super().__init__()
        self.config = config
        self.shards = shards
        self.work = Path(work)
        self.decontam_index = decontam_index

    def run(self, data=None, rank: int = 0, world_size: int = 1):
        process_shard(self.shards[rank], self.config, self.work, self.decontam_index)
        return ()
