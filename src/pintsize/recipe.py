"""Recipes: one TOML file that says how to reproduce a run, one section per stage.

Each section's schema lives next to the stage that reads it; this module puts them together,
loads a file, and turns validation failures into messages that name the file and the key.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import Field, ValidationError, model_validator

from pintsize.config_base import Section
from pintsize.curate.config import DataConfig
from pintsize.data.config import PackConfig
from pintsize.errors import RecipeError
from pintsize.eval.config import EvalConfig
from pintsize.model.recipe import ExportConfig, ModelSection
from pintsize.pipeline.ablate.config import AblateConfig
from pintsize.pipeline.adapt_config import AdaptConfig
from pintsize.pipeline.quality_stage import QualityModelConfig
from pintsize.tokenizer.config import TokenizerConfig
from pintsize.train.config import DPOConfig, PretrainConfig, SFTConfig, check_seq_len_fits
from pintsize.train.distill_config import DistillConfig


class RunConfig(Section):
    name: str = "run"
    out_dir: str | None = Field(None, description="where the run's artifacts go; default runs/<name>")
    seed: int = 1234
    reuse: dict[str, str] = Field(
        default_factory=dict,
        description="stage -> an existing artifact to use instead of running the stage, e.g. pack = \"runs/other/pack\"",
    )


class Recipe(Section):
    run: RunConfig = Field(default_factory=RunConfig)
    quality_model: QualityModelConfig | None = None
    data: DataConfig = Field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = Field(default_factory=TokenizerConfig)
    pack: PackConfig = Field(default_factory=PackConfig)
    model: ModelSection = Field(default_factory=ModelSection)
    pretrain: PretrainConfig = Field(default_factory=PretrainConfig)
    distill: DistillConfig | None = Field(None, description="replaces [pretrain]: a student learns from a teacher")
    sft: SFTConfig | None = None
    dpo: DPOConfig | None = None
    eval: EvalConfig = Field(default_factory=EvalConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    ablate: AblateConfig | None = None
    adapt: AdaptConfig | None = None

    @model_validator(mode="after")
    def _cross_section_checks(self) -> "Recipe":
        if self.adapt is None:  # an adaptation run trains the [adapt].base model, checked when it is known
            check_seq_len_fits(self)
        if self.tokenizer.kind == "extend" and self.adapt is None:
            raise ValueError("[tokenizer] kind = 'extend' extends the tokenizer of the [adapt].base model; the recipe has no [adapt]")
        return self

    @property
    def out_dir(self) -> Path:
        return Path(self.run.out_dir or f"runs/{self.run.name}")

    def stage_dir(self, stage: str) -> Path:
        """Where a stage of this run writes its artifact: runs/<name>/<stage> (curate, tokenizer,
        pack, pretrain, distill, sft, dpo, eval, export)."""
        return self.out_dir / stage


def _format_errors(e: ValidationError, source: str) -> str:
    lines = []
    for err in e.errors():
        loc = [str(p) for p in err["loc"]]
        key = f"[{loc[0]}]" + "".join(f".{p}" if not p.isdigit() else f"[{p}]" for p in loc[1:]) if loc else "(top level)"
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        else:
            msg = err["msg"].removeprefix("Value error, ")
            if "input" in err and not isinstance(err["input"], dict):
                msg += f" (got {err['input']!r})"
        lines.append(f"{source}: {key}: {msg}" if loc else f"{source}: {msg}")
    return "\n".join(lines)


def parse_recipe(data: dict, source: str = "<recipe>") -> Recipe:
    try:
        return Recipe.model_validate(data)
    except ValidationError as e:
        raise RecipeError(_format_errors(e, source)) from None


def load_recipe(path: str | Path) -> Recipe:
    path = Path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: recipe file not found")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise RecipeError(f"{path}: not a TOML text file (invalid UTF-8 at byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise RecipeError(f"{path}: invalid TOML: {e}") from None
    if not data:  # an empty file (cut to nothing?) would silently run every default
        raise RecipeError(f"{path}: the recipe is empty (no sections or keys)")
    return parse_recipe(data, str(path))
