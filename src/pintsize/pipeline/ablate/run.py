"""`pintsize ablate RECIPE`: the experiment behind the mission's claim. The same model, trained on
the same token budget with the same seeds and one tokenizer, on differently curated versions of
the same raw data, compared on held-out expository text and a downstream task.

    split (held-out docs out, copies of them removed: ablate.split) ──┬─▶ curate variant ─▶ pack ─▶ pretrain x seeds ─▶ score
                                                                      └─▶ curate reference ─▶ tokenizer (shared)

Fairness: every run has the recipe's [model], [pretrain] schedule and optimizer, the token
budget (`[ablate].token_budget`, default the recipe's pretraining budget), a seed from
`[ablate].seeds`, and the tokenizer built once from the reference variant's corpus (or the
recipe's pints/path tokenizer). Only the data differs. A variant with fewer tokens than the
budget is repeated by the loader; its unique tokens and passes are recorded, since fewer unique
tokens is part of what curation costs. Packs have no validation split (each variant's own
validation loss would not be comparable); every variant is scored on the same held-out text.

Layout: `<out>` (default runs/<name>/ablate) is the result artifact: `results.json`,
`table.txt`, `ablation.png`, `manifest.json` (whose inputs are every trained model, for
lineage). The work lives next to it in `<out>-work/`: `split/`, `tokenizer/`,
`<variant>/curate/`, `<variant>/pack/`, `<variant>/seed-<n>/pretrain/` (each an artifact) and
`<variant>/seed-<n>/result.json`. Rerunning the command skips every finished step whose config
and inputs are unchanged (recorded in `<out>-work/state.json`), resumes an interrupted training
run from its checkpoint, and only trains and scores what is missing: adding a variant or a seed
trains just that.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rich.console import Console
from rich.table import Table

from pintsize.artifacts import MANIFEST, ArtifactWriter, atomic_write_json, hash_config, hash_path, read_manifest
from pintsize.errors import PintsizeError, RecipeError
from pintsize.pipeline.ablate.config import AblateConfig
from pintsize.pipeline.layout import quality_model_input
from pintsize.recipe import Recipe

console = Console()
STAGE = "ablate"
STATE_FILE = "state.json"


@dataclass(frozen=True)
class Layout:
    out: Path

    @property
    def work(self) -> Path:
        return self.out.with_name(self.out.name + "-work")

    @property
    def split(self) -> Path:
        return self.work / "split"

    @property
    def tokenizer(self) -> Path:
        return self.work / "tokenizer"

    def curate(self, v: str) -> Path:
        return self.work / v / "curate"

    def pack(self, v: str) -> Path:
        return self.work / v / "pack"

    def pretrain(self, v: str, seed: int) -> Path:
        return self.work / v / f"seed-{seed}" / "pretrain"

    def result(self, v: str, seed: int) -> Path:
        return self.work / v / f"seed-{seed}" / "result.json"


def ablate_config(recipe: Recipe, variants: list[str] | None = None, seeds: list[int] | None = None) -> AblateConfig:
    base = recipe.ablate.model_dump() if recipe.ablate is not None else {}
    if variants:
        base["variants"] = variants
    if seeds:
        base["seeds"] = seeds
    try:
        return AblateConfig.model_validate(base)
    except Exception as e:  # noqa: BLE001 - pydantic's message names the field
        raise RecipeError(f"[ablate]: {e}") from None


def token_budget(recipe: Recipe, cfg: AblateConfig) -> int:
    p = recipe.pretrain
    budget = cfg.token_budget or p.max_tokens or (p.max_steps * p.global_batch_tokens if p.max_steps else None)
    if not budget:
        raise RecipeError("[ablate].token_budget is not set and [pretrain] has neither max_tokens nor max_steps")
    return budget


def run_recipe(recipe: Recipe, seed: int, budget: int) -> Recipe:
    """The recipe of one training run: the seed and the budget are all that change."""
    pre = recipe.pretrain.model_copy(
        update={"seed": seed, "max_tokens": budget, "max_steps": None, "source_weights": {}, "init_from": None}
    )
    return recipe.model_copy(update={"pretrain": pre})


# ------------------------------------------------------------ steps that skip when unchanged


class Steps:
    """Runs a step unless its artifact exists and was made with the same config and inputs."""

    def __init__(self, layout: Layout, dry_run: bool) -> None:
        self.layout, self.dry_run = layout, dry_run
        self.path = layout.work / STATE_FILE
        self.state: dict[str, str] = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.plan: list[tuple[str, str, str]] = []

    def key(self, config: Any, inputs: dict[str, Path]) -> str | None:
        try:
            return hash_config({"config": config, "inputs": {k: hash_path(p) for k, p in sorted(inputs.items())}})
        except PintsizeError:
            return None  # an input is not made yet

    def __call__(self, name: str, out: Path, config: Any, inputs: dict[str, Path], fn: Callable[[], Any]) -> bool:
        """Returns True when the step ran (or would run, in a dry run)."""
        rel = out.relative_to(self.layout.work).as_posix()
        key = self.key(config, inputs)
        done = (out / MANIFEST).is_file()
        if done and key is not None and self.state.get(rel) == key:
            self.plan.append((name, "skip", "unchanged"))
            return False
        reason = "changed" if done else ("resume" if out.with_name(out.name + ".partial").exists() else "new")
        self.plan.append((name, "run", reason))
        if self.dry_run:
            return True
        console.rule(f"[bold]{name}[/] -> {out} ({reason})")
        t0 = time.time()
        fn()
        self.state[rel] = self.key(config, inputs)
        atomic_write_json(self.path, self.state)
        console.print(f"[green]{name} done[/] in {time.time() - t0:.1f}s")
        return True


# ------------------------------------------------------------ the experiment


def run_ablation(
    recipe: Recipe,
    out: Path | None = None,
    variants: list[str] | None = None,
    seeds: list[int] | None = None,
    dry_run: bool = False,
) -> Path | None:
    cfg = ablate_config(recipe, variants, seeds)
    layout = Layout(Path(out) if out else recipe.out_dir / STAGE)
    budget = token_budget(recipe, cfg)
    from pintsize.pipeline.preflight import ablate_preflight, raise_problems

    raise_problems(ablate_preflight(recipe, cfg))  # before the first training, not after it
    if cfg.threads and not dry_run:
        import torch

        torch.set_num_threads(cfg.threads)
    steps = Steps(layout, dry_run)
    t_start = time.time()

    from pintsize.pipeline.ablate.split import build_split, source_inputs, split_config

    steps("split (held-out + decontamination)", layout.split, split_config(recipe.data, cfg), source_inputs(recipe.data, cfg),
          lambda: build_split(recipe.data, cfg, layout.split))

    data = _quality_model(steps, recipe, layout)
    wanted = list(dict.fromkeys([cfg.reference, *cfg.variants] if recipe.tokenizer.kind == "train" else cfg.variants))
    for v in wanted:
        _curate(steps, data, layout, v)
    _tokenizer(steps, recipe, layout, cfg)
    for v in cfg.variants:
        _pack(steps, recipe, layout, v)
    runs: dict[str, dict[int, dict]] = {}
    for v in cfg.variants:
        for seed in cfg.seeds:
            _train(steps, recipe, layout, v, seed, budget)
            if not dry_run:
                runs.setdefault(v, {})[seed] = _score(recipe, layout, cfg, v, seed, budget)
    if dry_run:
        _print_plan(steps.plan, layout, cfg, budget)
        return None
    return _write_results(recipe, layout, cfg, budget, runs, time.time() - t_start)


def _quality_model(steps: Steps, recipe: Recipe, layout: Layout):
    """The [data] the variants start from: with the quality model that [quality_model] trains
    (once, in the work directory) when [data.quality].model names none, as `pintsize run` does."""
    if recipe.quality_model is None or recipe.data.quality.model is not None:
        return recipe.data
    from pintsize.pipeline.quality_stage import expand, train_quality_stage

    qm, out = recipe.quality_model, layout.work / "quality"
    paths = [*expand(qm.positives, "positives"), *expand(qm.negatives, "negatives"), *expand(qm.labels, "labels")]
    steps("quality model", out, qm.model_dump(mode="json"), {f"example{i}": p for i, p in enumerate(paths)},
          lambda: train_quality_stage(qm, out))
    return recipe.data.model_copy(update={"quality": recipe.data.quality.model_copy(update={"model": str(out)})})


def _curate(steps: Steps, base, layout: Layout, v: str) -> None:
    from pintsize.pipeline.ablate.variants import variant_data

    data = variant_data(base, v, layout.split / "sources")

    def run() -> None:
        from pintsize.curate.pipeline import run_curate

        run_curate(data, layout.curate(v))

    inputs = {"split": layout.split} | quality_model_input(data)
    steps(f"curate {v}", layout.curate(v), data.model_dump(mode="json"), inputs, run)


def _tokenizer(steps: Steps, recipe: Recipe, layout: Layout, cfg: AblateConfig) -> None:
    from pintsize.tokenizer import build_tokenizer

    corpus = layout.curate(cfg.reference) if recipe.tokenizer.kind == "train" else None
    inputs = {"corpus": corpus} if corpus else {}
    steps("tokenizer", layout.tokenizer, recipe.tokenizer.model_dump(mode="json"), inputs,
          lambda: build_tokenizer(recipe.tokenizer, corpus, layout.tokenizer))


def pack_config(recipe: Recipe):
    return recipe.pack.model_copy(update={"val_fraction": 0.0})


def _pack(steps: Steps, recipe: Recipe, layout: Layout, v: str) -> None:
    from pintsize.data.pack import pack_corpus

    config = pack_config(recipe)
    inputs = {"corpus": layout.curate(v), "tokenizer": layout.tokenizer}
    steps(f"pack {v}", layout.pack(v), config.model_dump(mode="json"), inputs,
          lambda: pack_corpus(layout.curate(v), layout.tokenizer, layout.pack(v), config, progress=False))


def _train(steps: Steps, recipe: Recipe, layout: Layout, v: str, seed: int, budget: int) -> None:
    from pintsize.train.stage import fingerprinted

    r = run_recipe(recipe, seed, budget)
    config = {"model": recipe.model.model_dump(mode="json"), "pretrain": fingerprinted(r.pretrain)}
    inputs = {"shards": layout.pack(v), "tokenizer": layout.tokenizer}

    def run() -> None:
        from pintsize.train.pretrain import run_pretrain

        run_pretrain(r, layout.pack(v), layout.tokenizer, layout.pretrain(v, seed))

    steps(f"train {v} seed {seed}", layout.pretrain(v, seed), config, inputs, run)


def _score(recipe: Recipe, layout: Layout, cfg: AblateConfig, v: str, seed: int, budget: int) -> dict:
    """The run's training facts and scores; scores are reused while model, split and eval settings are unchanged."""
    from pintsize.data.shards import read_meta
    from pintsize.pipeline.ablate.eval import eval_config, evaluate_run

    pretrain = layout.pretrain(v, seed)
    manifest = read_manifest(pretrain)
    split = read_meta(layout.pack(v))["splits"]["train"]
    unique = int(split["tokens"])
    trained = int(manifest["stats"]["tokens"])
    curate_stats = json.loads((layout.curate(v) / "stats.json").read_text())
    train = {
        "budget_tokens": budget,
        "tokens": trained,
        "steps": manifest["stats"]["steps"],
        "unique_tokens": unique,
        "documents": int(split["documents"]),
        "passes": trained / unique,
        "final_loss": manifest["stats"]["final_loss"],
        "tokens_per_s": manifest["stats"].get("tokens_per_s"),
        "train_seconds": manifest.get("seconds"),
        "corpus_docs": sum(s.get("output_docs", 0) for s in curate_stats["sources"].values()),
    }
    seq_len = recipe.pretrain.seq_len
    key = hash_config({"model": hash_path(pretrain), "split": hash_path(layout.split), "eval": eval_config(cfg, seq_len)})
    path = layout.result(v, seed)
    if path.is_file():
        cached = json.loads(path.read_text())
        if cached.get("key") == key:
            return {**cached, "train": train}
    console.rule(f"[bold]score {v} seed {seed}[/]")
    result = {"variant": v, "seed": seed, "key": key, "train": train, "eval": evaluate_run(pretrain / "model", layout.split, cfg, seq_len)}
    atomic_write_json(path, result)
    e = result["eval"]
    console.print(
        f"[green]{v} seed {seed}[/]: held-out {e['heldout']['bits_per_byte']:.4f} bits/byte, "
        f"cloze {e['cloze']['accuracy'] if e['cloze']['accuracy'] is not None else float('nan'):.3f} ({e['eval_seconds']}s)"
    )
    return result


def _write_results(recipe: Recipe, layout: Layout, cfg: AblateConfig, budget: int, runs: dict, seconds: float) -> Path:
    from pintsize.pipeline.ablate.report import plot_results, print_results, summarize
    from pintsize.pipeline.ablate.variants import describe
    from pintsize.train.stage import fingerprinted

    split_stats = json.loads((layout.split / "stats.json").read_text())
    results = {
        "budget_tokens": budget,
        "model": recipe.model.model_dump(mode="json"),
        "tokenizer": recipe.tokenizer.model_dump(mode="json"),
        "heldout": split_stats["heldout"],
        "decontamination": split_stats["decontamination"],
        **summarize(runs, cfg.reference, {v: describe(v) for v in cfg.variants}),
        "runs": {v: {str(s): r for s, r in by_seed.items()} for v, by_seed in runs.items()},
        "noise_rule": "a difference counts only beyond the larger seed spread (max - min over seeds) of the two "
        "variants; for accuracies also beyond 2 x the standard error of the difference",
    }
    config = {
        "ablate": cfg.model_dump(mode="json"),
        "budget_tokens": budget,
        "model": recipe.model.model_dump(mode="json"),
        "pretrain": fingerprinted(run_recipe(recipe, 0, budget).pretrain),
    }
    inputs = {"split": layout.split, "tokenizer": layout.tokenizer}
    inputs |= {f"{v}/seed-{s}": layout.pretrain(v, s) for v in runs for s in runs[v]}
    with ArtifactWriter(layout.out, STAGE, config, inputs=inputs) as art:
        atomic_write_json(art.dir / "results.json", results)
        text = print_results(results, console)
        (art.dir / "table.txt").write_text(text)
        plot_results(results, art.dir / "ablation.png")
        art.stats.update(variants=list(runs), seeds=cfg.seeds, budget_tokens=budget, wall_seconds=round(seconds, 1))
        art.extra["work"] = str(layout.work.resolve())
    console.print(f"\n[bold green]Ablation finished[/] in {seconds:.0f}s: {layout.out}/results.json, table.txt, ablation.png")
    return layout.out


def _print_plan(plan: list[tuple[str, str, str]], layout: Layout, cfg: AblateConfig, budget: int) -> None:
    t = Table(title=f"ablation plan: {', '.join(cfg.variants)} x seeds {cfg.seeds}, {budget:,} tokens per run -> {layout.out}")
    for col in ("step", "action", "why"):
        t.add_column(col)
    for name, action, why in plan:
        t.add_row(name, f"[bold green]{action}[/]" if action == "run" else f"[dim]{action}[/]", why)
    t.add_row("score + table + plot", "run", "always (scores are reused while models are unchanged)")
    console.print(t)
