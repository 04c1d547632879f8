"""Before a run starts: what its stages will need that the recipe cannot give.

Found in seconds, not when the stage comes up after days of pretraining: a post-training section
with no data or naming missing files, a raw-text source that matches nothing, no corpus to
pack, a starting model that is not there, an lm-eval task that does not exist or whose local
data is missing. Only stages planned to run are checked.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

from pintsize.artifacts import MANIFEST
from pintsize.errors import PintsizeError
from pintsize.pipeline.layout import stage_dir
from pintsize.recipe import Recipe


def preflight(recipe: Recipe, running: set[str], made_here: Iterable[Path]) -> list[str]:
    """The problems that would stop the stages in `running`; `made_here` are the artifacts of
    those stages (a path inside one will exist by the time it is read)."""
    made_here = [p.resolve() for p in made_here]
    problems: list[str] = []

    def check(test: Callable[[], object]) -> None:
        try:
            test()
        except PintsizeError as e:
            problems.append(str(e))

    def check_model(path: str, role: str) -> None:
        resolved = Path(path).resolve()
        if not any(resolved == out or out in resolved.parents for out in made_here):
            from pintsize.model.checkpoint import resolve_model_dir

            check(lambda: resolve_model_dir(path, role))

    if "quality" in running and recipe.quality_model is not None:
        from pintsize.pipeline.quality_stage import BUILTIN_PYDOC, glob_existing

        q = recipe.quality_model
        for field, entries in (("positives", q.positives), ("negatives", q.negatives), ("labels", q.labels)):
            for entry in entries:
                if entry != BUILTIN_PYDOC and not glob_existing(entry):
                    problems.append(f"[quality_model].{field}: nothing matches {entry!r}")
    if "curate" in running and recipe.data.quality.model and recipe.quality_model is None:
        from pintsize.curate.quality import QualityModel

        check(lambda: QualityModel.load(recipe.data.quality.model))  # a directory or builtin:expository
    if "curate" in running:
        from pintsize.curate.shards import source_files

        for source in recipe.data.sources:
            if source.format != "pydoc":
                check(lambda: source_files(source))
    if "pack" in running and not recipe.data.sources and not (stage_dir(recipe, "curate") / MANIFEST).is_file():
        problems.append(
            f"[data] lists no sources and there is no curated corpus at {stage_dir(recipe, 'curate')}: "
            "point [[data.sources]] at your raw text (recipes/demo.toml shows how) or reuse a corpus ([run].reuse.curate)"
        )
    if "pretrain" in running and recipe.pretrain.init_from:
        check_model(recipe.pretrain.init_from, "[pretrain].init_from")
    if "distill" in running:
        check(lambda: _check_distill_models(recipe, check_model))
    if "eval" in running and recipe.eval.harness_tasks:
        check(lambda: _check_harness_tasks(recipe.eval))
    from pintsize.pipeline.adapt_stages import preflight_problems

    problems += preflight_problems(recipe, running)
    for section in ("sft", "dpo"):
        if section in running:
            config = getattr(recipe, section)
            problems += _data_problems(config.data, section)
            if config.init_from:
                check_model(config.init_from, f"[{section}].init_from")
    return problems


def _check_harness_tasks(config) -> None:
    """The lm-eval tasks exist (a misspelt name would fail the eval stage after training)."""
    from pintsize.eval.harness import check_tasks
    from pintsize.eval.run import harness_skipped

    if not harness_skipped(config):  # else the eval stage skips the harness, and says so
        check_tasks(config.harness_tasks, config.num_fewshot, config.data_dir, config.harness_include_paths)


def ablate_preflight(recipe: Recipe, cfg) -> list[str]:
    """What would stop `pintsize ablate` after it has trained: the checks of the stages it runs
    (quality model, curation of the recipe's sources) and its lm-eval tasks with their data."""
    from pintsize.eval.harness import check_tasks

    running = {"curate"} | ({"quality"} if recipe.quality_model is not None and recipe.data.quality.model is None else set())
    problems = preflight(recipe, running, [])
    if cfg.harness_tasks:
        try:
            check_tasks(cfg.harness_tasks, include_paths=cfg.harness_include_paths)
        except PintsizeError as e:
            problems.append(f"[ablate].harness_tasks: {e}")
    return problems


def _data_problems(entries: list[str], section: str) -> list[str]:
    from pintsize.data.chat import BUILTIN_CHAT
    from pintsize.data.json_records import BUILTIN, check_builtin, data_files
    from pintsize.data.preference import BUILTIN_PREFERENCES
    from pintsize.train.posttrain import data_inputs

    builtin = BUILTIN_CHAT if section == "sft" else BUILTIN_PREFERENCES
    try:
        data_inputs(entries, section)  # the stage's own check for an empty list
    except PintsizeError as e:
        return [str(e)]
    problems = []
    for entry in entries:
        try:
            check_builtin(entry, [builtin]) if entry.startswith(BUILTIN) else data_files(entry)
        except PintsizeError as e:
            problems.append(f"[{section}].data: {e}")
    return problems


def raise_problems(problems: list[str]) -> None:
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise PintsizeError(f"the run would stop on the way; nothing was run. Fix the recipe:\n{lines}")


def _check_distill_models(recipe: Recipe, check_model: Callable[[str, str], None]) -> None:
    """The teacher (a model, or a GGUF the run imports) and the student are there."""
    from pintsize.train.distill_config import is_gguf

    d = recipe.distill
    if is_gguf(d.teacher):
        from pintsize.model.gguf_import import resolve_gguf

        resolve_gguf(d.teacher)
    else:
        check_model(d.teacher, "[distill].teacher")
    if d.student:
        check_model(d.student, "[distill].student")
