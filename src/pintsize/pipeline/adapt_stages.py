"""The stages of an adaptation run ([adapt]): import the base model, transfer it to the new
tokenizer, and evaluate the new and the old domain. `pipeline.stages` lists them in the run."""

from __future__ import annotations

from pathlib import Path

from pintsize.recipe import Recipe


def imports_base(recipe: Recipe) -> bool:
    """A GGUF base (builtin:smollm2 or a .gguf file) is imported into a model artifact first."""
    return recipe.adapt is not None and (recipe.adapt.base == "builtin:smollm2" or recipe.adapt.base.endswith(".gguf"))


def base_model(recipe: Recipe) -> Path:
    from pintsize.pipeline.layout import stage_dir

    return stage_dir(recipe, "base") if imports_base(recipe) else Path(recipe.adapt.base)


def import_base(recipe: Recipe, out: Path) -> None:
    from pintsize.model.gguf_import import import_gguf_artifact

    import_gguf_artifact(recipe.adapt.base, out)


def base_inputs(recipe: Recipe) -> dict[str, Path]:
    from pintsize.model.gguf_import import resolve_gguf

    return {"gguf": resolve_gguf(recipe.adapt.base)}


def transfer_config(recipe: Recipe):
    from pintsize.tokenizer.transfer import TransferConfig

    a = recipe.adapt
    return TransferConfig(init=a.init, fallback=a.fallback, seed=a.seed)


def transfer_inputs(recipe: Recipe) -> dict[str, Path]:
    from pintsize.pipeline.layout import stage_dir

    inputs = {"model": base_model(recipe), "tokenizer": stage_dir(recipe, "tokenizer")}
    if recipe.adapt.init == "focus":
        inputs["corpus"] = stage_dir(recipe, "curate")
    return inputs


def transfer(recipe: Recipe, out: Path) -> None:
    from rich.console import Console

    from pintsize.model.checkpoint import resolve_model_dir
    from pintsize.tokenizer.transfer import transfer_tokenizer

    inputs = transfer_inputs(recipe)
    model = resolve_model_dir(inputs["model"], "[adapt].base")
    counts = transfer_tokenizer(model, inputs["tokenizer"], out, transfer_config(recipe), inputs.get("corpus"))
    Console().print("transfer: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()) + " embedding rows")


def extend_base_tokenizer(recipe: Recipe, corpus: Path, out: Path) -> None:
    """[tokenizer] kind = "extend": the base model's tokenizer plus [tokenizer].add tokens learned on the corpus."""
    from pintsize.model.checkpoint import resolve_model_dir
    from pintsize.tokenizer.extend import extend_tokenizer

    extend_tokenizer(resolve_model_dir(base_model(recipe), "[adapt].base"), corpus, out, recipe.tokenizer.add)


def with_adapted_start(recipe: Recipe) -> Recipe:
    """The recipe with [pretrain].init_from at the transferred model (unless the recipe names one)."""
    from pintsize.pipeline.layout import stage_dir

    if recipe.adapt is None or recipe.pretrain.init_from:
        return recipe
    pretrain = recipe.pretrain.model_copy(update={"init_from": str(stage_dir(recipe, "transfer"))})
    return recipe.model_copy(update={"pretrain": pretrain})


def adapt_eval_inputs(recipe: Recipe) -> dict[str, Path]:
    from pintsize.pipeline.layout import stage_dir

    inputs = {"base": base_model(recipe), "transfer": stage_dir(recipe, "transfer"), "trained": stage_dir(recipe, "pretrain"),
              "shards": stage_dir(recipe, "pack")}
    if recipe.adapt.old_domain != "builtin:pydoc":
        inputs["old_domain"] = Path(recipe.adapt.old_domain)
    return inputs


def adapt_eval(recipe: Recipe, out: Path) -> None:
    from pintsize.eval.adapt import evaluate_domains, print_table

    inputs = adapt_eval_inputs(recipe)
    models = {"base (old tokenizer)": inputs["base"], "transferred, 0 steps": inputs["transfer"], "after pretraining": inputs["trained"]}
    print_table(evaluate_domains(recipe.adapt, models, inputs["shards"], out, inputs))


def preflight_problems(recipe: Recipe, running: set[str]) -> list[str]:
    """What would stop an adaptation run's own stages: a base model that is not there, manual
    pages without groff to render them."""
    from pintsize.errors import PintsizeError

    problems = []
    if recipe.adapt is not None and running & {"base", "transfer"}:
        try:
            if imports_base(recipe):
                from pintsize.model.gguf_import import resolve_gguf

                resolve_gguf(recipe.adapt.base)
            else:
                from pintsize.model.checkpoint import resolve_model_dir

                resolve_model_dir(recipe.adapt.base, "[adapt].base")
        except PintsizeError as e:
            problems.append(str(e))
    if "curate" in running and any(s.format == "man" for s in recipe.data.sources):
        from pintsize.curate.manpages import groff_available

        if not groff_available():
            problems.append("[data] sources with format = 'man' need groff to render manual pages (apt-get install groff-base)")
    return problems
