"""Cross-field rules a recipe breaks are errors at validation (`recipe check`, `run --dry-run`),
not after curation, tokenizer and pack have run; non-finite values and absurd lengths too."""

import pytest

from pintsize.errors import RecipeError
from pintsize.recipe import parse_recipe


@pytest.mark.parametrize(
    "recipe, message",
    [
        ({"pretrain": {"seq_len": 1024}}, r"\[pretrain\]\.seq_len \(1,024\) is longer than the model's block_size \(512\)"),
        ({"pretrain": {"seq_len": 256, "micro_batch_size": 3, "global_batch_tokens": 1000}},
         r"r.toml: \[pretrain\]: global_batch_tokens \(1,000\) must be a multiple of seq_len x micro_batch_size \(256 x 3 = 768\); under torchrun"),
        ({"pretrain": {"seq_len": 256, "global_batch_tokens": 2048}, "sft": {"seq_len": 1024}}, r"\[sft\]\.seq_len \(1,024\)"),
        ({"pretrain": {"seq_len": 256, "global_batch_tokens": 2048}, "dpo": {"seq_len": 256, "micro_batch_size": 3}},
         r"\[dpo\]: global_batch_tokens"),
        ({"pretrain": {"optimizer": {"lr": float("inf")}}}, r"\[pretrain\]\.optimizer\.lr: Input should be a finite number"),
        ({"sft": {"optimizer": {"lr": float("nan")}}}, r"\[sft\]\.optimizer\.lr: Input should be a finite number"),
        ({"pretrain": {"max_steps": 99999999999999999999}}, r"at most 10,000,000,000 steps"),
        ({"pretrain": {"seq_len": 256, "global_batch_tokens": 2048, "optimizer": {"lr": 1e-4, "min_lr": 1e-3}}},
         r"r.toml: \[pretrain\]\.optimizer: min_lr \(0\.001\) is larger than lr \(0\.0001\): the schedule decays"),
        ({"sft": {"optimizer": {"lr": 1e-5}}}, r"\[sft\]\.optimizer: min_lr \(4e-05, its default\) is larger than lr \(1e-05\)"),
    ],
)
def test_rules_are_checked_at_validation(recipe, message):
    with pytest.raises(RecipeError, match=message):
        parse_recipe(recipe, "r.toml")


def test_consistent_recipes_still_pass():
    r = parse_recipe({"pretrain": {"seq_len": 256, "micro_batch_size": 2, "global_batch_tokens": 2048}, "sft": {"seq_len": 512, "micro_batch_size": 2, "global_batch_tokens": 2048}})
    assert r.sft.seq_len == 512
    # a fine-tuning recipe without [model]/[pretrain] names its model on the command line: checked at the stage
    assert parse_recipe({"sft": {"seq_len": 2048}}).sft.seq_len == 2048
