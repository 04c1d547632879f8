"""Passkey retrieval: prompts of the asked length with the key at the asked depth, and scoring
that counts a reply right exactly when its first number is the key."""

import re

import pytest

from pintsize.errors import PintsizeError
from pintsize.eval.passkey import build_prompt, default_lengths, first_number, run_passkey
from pintsize.serve.generate import Completion, Generator


@pytest.fixture(scope="module")
def gen(model_dir):
    return Generator.load(model_dir, device="cpu")


@pytest.mark.parametrize("depth", [0.0, 0.5, 1.0])
def test_prompt_fits_and_hides_the_key_at_its_depth(gen, depth):
    ids = build_prompt(gen, 240, depth, 48213)
    text = gen.tokenizer.decode(ids, skip_special_tokens=True)
    assert 200 < len(ids) <= 240
    assert text.count("The pass key is 48213.") == 1 and text.endswith("What is the pass key? The pass key is")
    position = text.index("48213") / len(text)
    assert abs(position - depth) < 0.25


def test_first_number():
    assert first_number(" 48213. Remember it.") == 48213
    assert first_number("I do not know") is None


class Oracle:
    """Answers with the key written in its prompt (or a wrong one): a model of known accuracy."""

    def __init__(self, gen, right: bool):
        self.gen, self.right = gen, right
        self.context_length, self.encode = gen.context_length, gen.encode

    def complete(self, ids, params):
        key = int(re.search(r"pass key is (\d+)", self.gen.tokenizer.decode(ids)).group(1))
        return Completion(f" {key if self.right else key + 1}.", [], "stop", len(ids))


def test_accuracy_counts_right_and_wrong_answers(gen):
    assert run_passkey(Oracle(gen, True), [128, 250], trials=3)["accuracy"] == 1.0
    out = run_passkey(Oracle(gen, False), [128], trials=3)
    assert out["accuracy"] == 0.0 and [a["depth"] for a in out["lengths"]["128"]["answers"]] == [0.0, 0.5, 1.0]


def test_the_real_model_runs_and_lengths_are_checked(gen):
    out = run_passkey(gen, [200], trials=2)
    assert 0.0 <= out["accuracy"] <= 1.0 and out["lengths"]["200"]["answers"][0]["prompt_tokens"] <= 190
    with pytest.raises(PintsizeError, match="longer than the model's context of 256"):
        run_passkey(gen, [4096])


def test_default_lengths_double_up_to_the_context():
    assert default_lengths(16384) == [2048, 4096, 8192, 16384]
    assert default_lengths(2048) == [2048]
    assert default_lengths(256) == [256]
