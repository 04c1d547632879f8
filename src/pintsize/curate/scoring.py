"""`pintsize quality score`: a copy of a corpus with a `quality_score` column from a model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pintsize.artifacts import ArtifactWriter
from pintsize.curate.corpus_io import write_table
from pintsize.curate.quality import QualityModel, resolve_model_path
from pintsize.errors import DataError

_BATCH = 2048


def corpus_parts(corpus: Path) -> list[Path]:
    """The Parquet parts of a corpus artifact, or the Parquet files given or under a directory."""
    corpus = Path(corpus)
    if corpus.is_file() and corpus.suffix == ".parquet":
        return [corpus]
    parts = sorted((corpus / "data").glob("part-*.parquet")) or sorted(corpus.glob("*.parquet"))
    if not parts:
        raise DataError(f"{corpus}: no Parquet parts (expected a corpus artifact of `pintsize curate`)")
    return parts


def score_corpus(model_dir: Path, corpus: Path, out: Path) -> dict:
    """Write `out` (a corpus artifact: the same parts with `quality_score` set) and return a
    summary of the scores."""
    model = QualityModel.load(model_dir)  # a directory or builtin:expository
    parts = corpus_parts(corpus)
    all_scores = []
    inputs = {"model": resolve_model_path(model_dir), "corpus": corpus}
    with ArtifactWriter(Path(out), "quality_score", {"model": str(model_dir)}, inputs=inputs) as art:
        for part in parts:
            try:
                table = pq.read_table(part)
            except (pa.ArrowException, OSError) as e:
                raise DataError(f"{part}: not a readable Parquet file ({e})") from None
            if "text" not in table.column_names:
                raise DataError(f"{part}: no `text` column")
            texts = table.column("text").to_pylist()
            scores = np.concatenate([model.score(texts[i : i + _BATCH]) for i in range(0, len(texts), _BATCH)] or [np.empty(0)])
            if "quality_score" in table.column_names:
                table = table.drop_columns(["quality_score"])
            table = table.append_column("quality_score", pa.array(scores, pa.float64()))
            write_table(table, art.dir / "data" / part.name)
            all_scores.append(scores)
        scores = np.concatenate(all_scores) if all_scores else np.empty(0)
        summary = {
            "documents": int(len(scores)),
            "mean": round(float(scores.mean()), 4) if len(scores) else None,
            "quantiles": {q: round(float(np.quantile(scores, q)), 4) for q in (0.1, 0.5, 0.9)} if len(scores) else {},
            "share_at_least_0.5": round(float((scores >= 0.5).mean()), 4) if len(scores) else None,
        }
        art.stats.update(summary)
    return summary
