"""Continuous batching: requests decoded together, joining and leaving at any step, get exactly
the tokens each gets decoded alone (greedy and seeded sampling); a request that goes away frees
its row; more requests than rows wait their turn."""

import threading
import time

import pytest

from pintsize.data.pydoc_corpus import pydoc_documents
from pintsize.serve.batching import FIRST_SLOTS, BatchedDecoder
from pintsize.serve.generate import Generator, decode_budget, generate_tokens
from pintsize.serve.sampling import GenerationError, SamplingParams


@pytest.fixture(scope="module")
def gen(bpe_model_dir):
    return Generator.load(bpe_model_dir, device="cpu")


@pytest.fixture
def decoder(gen):
    d = BatchedDecoder(gen.model, gen.vocab_size, max_batch=3)
    yield d
    d.close()


def prompts(gen) -> list[list[int]]:
    """Prompts of different lengths (rows of one batch sit at different positions)."""
    texts = [d["text"][: 40 + 70 * i] for i, d in enumerate(pydoc_documents(limit=5))]
    return [gen.encode(t) for t in texts]


def alone(gen, ids, params) -> list[int]:
    return list(generate_tokens(gen.model, ids, params, gen.vocab_size))


def batched(gen, decoder, ids, params) -> list[int]:
    return list(decoder.generate(ids, params, decode_budget(gen.model, ids, params)))


def run_together(gen, decoder, cases) -> list[list[int]]:
    """Every (ids, params) submitted from its own thread at once, as a server's clients would."""
    results = [None] * len(cases)

    def client(i):
        results[i] = batched(gen, decoder, *cases[i])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def test_batched_greedy_equals_decoding_alone(gen, decoder):
    # five requests with different budgets on three rows: rows free up and are refilled mid-flight
    cases = [(ids, SamplingParams(max_new_tokens=12 + 7 * i)) for i, ids in enumerate(prompts(gen))]
    expected = [alone(gen, *case) for case in cases]
    assert run_together(gen, decoder, cases) == expected
    assert [len(t) for t in expected] == [12, 19, 26, 33, 40] and len({tuple(t) for t in expected}) == 5


def test_batched_sampling_equals_decoding_alone(gen, decoder):
    cases = [
        (ids, SamplingParams(max_new_tokens=20, temperature=0.9, top_p=0.9, top_k=50, repetition_penalty=1.2, seed=i))
        for i, ids in enumerate(prompts(gen)[:3])
    ]
    assert run_together(gen, decoder, cases) == [alone(gen, *case) for case in cases]


def test_a_request_that_goes_away_frees_its_row(gen, decoder):
    ids = prompts(gen)[0]
    tokens = decoder.generate(ids, SamplingParams(max_new_tokens=200), 200)
    first = [next(tokens) for _ in range(3)]
    tokens.close()  # the client stopped reading (a stop string, a disconnect)
    params = SamplingParams(max_new_tokens=8)
    assert batched(gen, decoder, ids, params) == alone(gen, ids, params)
    assert first == alone(gen, ids, SamplingParams(max_new_tokens=3))
    deadline = time.monotonic() + 30  # the decoder drops a finished row just after its last token
    while decoder.active and time.monotonic() < deadline:
        time.sleep(0.01)
    assert decoder.active == []  # every row is free again


def test_the_cache_grows_under_running_requests(gen, decoder):
    short, long_ = prompts(gen)[0], prompts(gen)[-1]
    short_params = SamplingParams(max_new_tokens=40)
    long_params = SamplingParams(max_new_tokens=gen.context_length - len(long_))
    assert len(short) + 40 < FIRST_SLOTS < len(long_) + long_params.max_new_tokens
    running = decoder.generate(short, short_params, 40)
    first = next(running)  # admitted: its keys and values are in the cache when it grows
    assert batched(gen, decoder, long_, long_params) == alone(gen, long_, long_params)
    assert [first, *running] == alone(gen, short, short_params)
    assert decoder._k.shape[3] == gen.context_length  # grew from FIRST_SLOTS


def test_a_request_that_fails_to_start_fails_alone(gen, decoder, monkeypatch):
    reserve = decoder._reserve

    def refuse_long(slots):
        if slots > 100:
            raise MemoryError(f"no room for {slots} slots")
        reserve(slots)

    monkeypatch.setattr(decoder, "_reserve", refuse_long)
    ids = prompts(gen)[0]
    short, long_ = SamplingParams(max_new_tokens=10), SamplingParams(max_new_tokens=150)
    running = decoder.generate(ids, short, 10)
    first = next(running)
    with pytest.raises(MemoryError, match="no room"):
        batched(gen, decoder, ids, long_)
    assert [first, *running] == alone(gen, ids, short)  # the request in flight went on


def test_a_prompt_that_cannot_be_served_is_refused_before_decoding(gen):
    with pytest.raises(GenerationError, match="the prompt is empty"):
        decode_budget(gen.model, [], SamplingParams())
    with pytest.raises(GenerationError, match=r"the prompt has 300 tokens; the model's context is 256 tokens"):
        decode_budget(gen.model, [5] * 300, SamplingParams())
