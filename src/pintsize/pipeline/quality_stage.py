"""The run's quality-model stage: train the textbook-likeness classifier that curation applies.

The `[quality_model]` section names seed examples (and, later, the review app's label exports);
the stage writes `runs/<name>/quality`, and the curate stage uses that model unless
`[data.quality].model` names another. Entries are paths or glob patterns, or `builtin:pydoc`
for the stdlib documentation (the embedded expository corpus).
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from pydantic import Field

from pintsize.config_base import Section
from pintsize.errors import PintsizeError

BUILTIN_PYDOC = "builtin:pydoc"


class QualityModelConfig(Section):
    positives: list[str] = Field(default_factory=list, description="expository examples: paths, globs or builtin:pydoc")
    negatives: list[str] = Field(default_factory=list, description="non-expository examples: paths or globs")
    labels: list[str] = Field(default_factory=list, description="labeled JSONL files, e.g. `pintsize review export` output")
    llm_labels: list[str] = Field(
        default_factory=list, description="`pintsize quality annotate` labels.jsonl files (precedence: labels > llm_labels > seeds)"
    )
    seed: int = 0


def glob_existing(pattern: str) -> list[str]:
    """The paths a glob matches, sorted, without dangling symlinks or files this user may not
    read: glob lists those too (/etc has both), and a pattern means "the files that are there"."""
    return [m for m in sorted(glob.glob(pattern, recursive=True)) if Path(m).exists() and os.access(m, os.R_OK)]


def expand(entries: list[str], section: str) -> list[Path]:
    """Paths for the entries: globs expanded (sorted, so the training set is deterministic)."""
    paths: list[Path] = []
    for entry in entries:
        if entry == BUILTIN_PYDOC:
            from pintsize.data.pydoc_corpus import write_pydoc_corpus

            paths.append(write_pydoc_corpus())
            continue
        matches = glob_existing(entry) if glob.has_magic(entry) else [entry]
        if not matches or not Path(matches[0]).exists():
            where = section if section.startswith("--") else f"[quality_model].{section}"  # a CLI flag or a recipe field
            raise PintsizeError(f"{where}: nothing matches {entry!r}")
        paths.extend(Path(m) for m in matches)
    return paths


def train_quality_stage(config: QualityModelConfig, out: Path) -> Path:
    from pintsize.curate.quality import read_label_file
    from pintsize.curate.quality import train_quality_model

    records = [rec for path in expand(config.labels, "labels") for rec in read_label_file(path, "[quality_model].labels")]
    llm_records = [rec for path in expand(config.llm_labels, "llm_labels") for rec in read_label_file(path, "[quality_model].llm_labels")]
    train_quality_model(
        expand(config.positives, "positives"), expand(config.negatives, "negatives"), records, out,
        llm_records=llm_records, seed=config.seed,
    )
    return out
