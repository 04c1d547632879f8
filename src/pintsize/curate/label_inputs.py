"""What `pintsize quality label SOURCE` labels and starts from: SOURCE is a recipe or a curate artifact.

- a recipe: its curation's documents (`runs/<name>/curate`; when it is not there yet, the recipe's
  [data] is curated without the quality step into `runs/<name>/curate-for-labels`), and the model
  its curation uses ([data.quality].model, or the run's `quality` stage);
- a curate artifact: its documents, and the model its manifest names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pintsize.artifacts import read_manifest
from pintsize.errors import DataError

UNRANKED = "curate-for-labels"


@dataclass
class LabelInput:
    corpus: Path
    start_model: str | None
    start_threshold: float
    notes: list[str]


def _threshold(quality: dict) -> float:
    t = quality.get("threshold")
    return 0.5 if t is None else float(t)


def resolve_label_input(source: Path, quality_model: str | None = None, workers: int | None = None) -> LabelInput:
    source = Path(source)
    if source.is_file() and source.suffix == ".toml":
        return _from_recipe(source, quality_model, workers)
    if not (source / "manifest.json").is_file() or not (source / "data").is_dir():
        raise DataError(f"{source}: expected a recipe (.toml) or a curate artifact (`pintsize curate` output)")
    config = read_manifest(source).get("config", {}).get("quality", {})
    start = quality_model or config.get("model")
    notes = [f"documents: those that reached the quality step of {source}"]
    if start and not quality_model and not Path(start).exists() and not str(start).startswith("builtin:"):
        notes.append(f"its quality model {start} is gone: starting without a model")
        start = None
    return LabelInput(source, start, _threshold(config), notes)


def _from_recipe(path: Path, quality_model: str | None, workers: int | None) -> LabelInput:
    from pintsize.pipeline.layout import curate_config, quality_model_used, stage_dir
    from pintsize.recipe import load_recipe

    recipe = load_recipe(path)
    data = curate_config(recipe)
    start = quality_model or (data.quality.model and quality_model_used(recipe, data) and data.quality.model)
    threshold = data.quality.effective_threshold or 0.5
    corpus = stage_dir(recipe, "curate")
    if (corpus / "manifest.json").is_file():
        return LabelInput(corpus, start, threshold, [f"documents: those that reached the quality step of {corpus}"])
    from pintsize.curate.pipeline import run_curate

    unranked = recipe.stage_dir(UNRANKED)
    if not (unranked / "manifest.json").is_file():
        run_curate(data.model_copy(update={"quality": data.quality.model_copy(update={"model": None})}), unranked, workers=workers)
    return LabelInput(unranked, start, threshold, [f"documents: {path}'s [data] curated without the quality step, in {unranked}"])
