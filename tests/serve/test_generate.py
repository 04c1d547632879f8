"""Generation with the KV cache: greedy (with and without a repetition penalty) and seeded sampling
equal transformers' `generate` on the Hugging Face export of the same checkpoint; stop tokens,
stop strings and the end of the context stop it; streamed pieces add up to the final text."""

import pytest
import torch
from transformers import AutoModelForCausalLM

from pintsize.data.pydoc_corpus import pydoc_documents
from pintsize.serve.generate import Generator
from pintsize.serve.sampling import GenerationError, SamplingParams


@pytest.fixture(scope="module")
def gen(model_dir):
    return Generator.load(model_dir, device="cpu")


@pytest.fixture(scope="module")
def hf_model(hf_dir):
    return AutoModelForCausalLM.from_pretrained(hf_dir).eval()


def prompts(gen) -> list[list[int]]:
    texts = [d["text"][:400] for d in pydoc_documents(limit=3)]
    return [gen.encode(t) for t in texts] + [gen.encode("The json module can")]


def hf_generate(hf_model, ids, **kw):
    out = hf_model.generate(torch.tensor([ids]), pad_token_id=0, **kw)
    return out[0, len(ids):].tolist()


@pytest.mark.parametrize("penalty", [1.0, 1.3])
def test_greedy_equals_transformers_generate(gen, hf_model, penalty):
    for ids in prompts(gen):
        ours = gen.complete(ids, SamplingParams(max_new_tokens=24, repetition_penalty=penalty)).token_ids
        theirs = hf_generate(hf_model, ids, max_new_tokens=24, do_sample=False, repetition_penalty=penalty)
        assert ours == theirs
        assert len(set(ours)) > 3  # not a degenerate repeat of one token


def test_seeded_sampling_equals_transformers_with_the_same_seed(gen, hf_model):
    ids = gen.encode("The json module can")
    ours = gen.complete(ids, SamplingParams(max_new_tokens=20, temperature=0.9, top_k=40, top_p=0.9, seed=7)).token_ids
    torch.manual_seed(7)
    theirs = hf_generate(hf_model, ids, max_new_tokens=20, do_sample=True, temperature=0.9, top_k=40, top_p=0.9)
    assert ours == theirs
    again = gen.complete(ids, SamplingParams(max_new_tokens=20, temperature=0.9, top_k=40, top_p=0.9, seed=7)).token_ids
    assert again == ours


def test_stop_token_ends_generation_before_it(gen):
    ids = gen.encode("The json module can")
    free = gen.complete(ids, SamplingParams(max_new_tokens=12))
    stop_at = free.token_ids[5]
    gen_stop = Generator(gen.model, gen.tokenizer)
    gen_stop.stop_token_ids = frozenset({stop_at})
    done = gen_stop.complete(ids, SamplingParams(max_new_tokens=12))
    first = free.token_ids.index(stop_at)
    assert done.finish_reason == "stop" and done.token_ids == free.token_ids[:first]


def test_stop_string_cuts_the_text_and_streams_the_same_text(gen):
    ids = gen.encode("The json module can")
    free = gen.complete(ids, SamplingParams(max_new_tokens=30)).text
    stop = free[len(free) // 2 : len(free) // 2 + 3]
    stream = gen.stream(ids, SamplingParams(max_new_tokens=30, stop=(stop,)))
    pieces = list(stream)
    assert stream.finish_reason == "stop"
    assert "".join(pieces) == stream.text == free[: free.index(stop)]


def test_a_special_token_as_stop_string_is_matched_as_that_token(gen):
    # Special tokens are not shown as text, so "<|im_start|>" could never be found in the text.
    stream = gen.stream(gen.encode("Hi"), SamplingParams(max_new_tokens=4, stop=("<|im_start|>", "Question:")))
    assert stream.stop_token_ids == {32002} | gen.stop_token_ids and gen.tokenizer.eos_token_id in gen.stop_token_ids
    assert stream.stops.stops == ("Question:",)


def test_generation_stops_at_the_end_of_the_context(gen):
    block = gen.context_length
    ids = gen.encode("word " * 400)[: block - 5]
    done = gen.complete(ids, SamplingParams(max_new_tokens=50))
    assert done.finish_reason == "length" and done.completion_tokens == 5


def test_prompt_too_long_or_empty_is_refused_before_generating(gen):
    with pytest.raises(GenerationError, match="context is 256 tokens"):
        gen.stream(list(range(10, 10 + gen.context_length)), SamplingParams())
    with pytest.raises(GenerationError, match="empty"):
        gen.stream([], SamplingParams())


def test_chat_prompt_is_the_pints_chatml_encoding(gen):
    # The reference encoding of DESIGN.md for the 1.5-Pints tokenizer and template.
    assert gen.chat_prompt([{"role": "user", "content": "Hi there"}]) == [1, 32002, 1838, 13, 23809, 736, 2, 13, 32002, 489, 11143, 13]
