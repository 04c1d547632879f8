"""`pintsize serve` log-probabilities: OpenAI's shapes (chat `logprobs.content[]`, the legacy
completions shape), streaming and not, alone and decoded in a batch with other requests; every
value equals the log-softmax of a direct forward pass of the model over prompt + tokens so far
(no KV cache), and every token's bytes are those of the token the model chose."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import torch

from pintsize.serve.generate import Generator
from pintsize.serve.sampling import SamplingParams
from pintsize.serve.server import ServerSettings, create_app

NAME = "tiny"
TOL = 1e-4  # a KV-cached step against a full forward pass: float32 rounding only


@pytest.fixture(scope="module")
def gen(bpe_model_dir):
    return Generator.load(bpe_model_dir, device="cpu")


@pytest.fixture(scope="module")
def url(gen, serve_app):
    with serve_app(create_app(gen, ServerSettings(model_name=NAME, max_tokens=32, max_concurrent=3))) as base:
        yield base


def direct(gen: Generator, prompt: list[int], chosen: list[int]) -> list[torch.Tensor]:
    """Log-softmax over the tokenizer's vocabulary at each new position, from one full forward pass."""
    with torch.no_grad():
        logits = gen.model(torch.tensor([prompt + chosen]))[0, len(prompt) - 1 : len(prompt) - 1 + len(chosen)]
    return list(torch.log_softmax(logits[:, : gen.vocab_size].float(), dim=-1))


def token_of(gen: Generator, entry_bytes: list[int], logp: torch.Tensor) -> int:
    """The vocabulary id with these bytes that the model found most likely (ids can share bytes)."""
    ids = [i for i, b in enumerate(gen.token_bytes.bytes) if b == bytes(entry_bytes)]
    assert ids, entry_bytes
    return max(ids, key=lambda i: float(logp[i]))


def check_chat_content(gen, prompt, content, k):
    chosen = []
    for entry in content:  # recover the ids from the bytes, position by position
        logp = direct(gen, prompt, chosen + [0])[-1]
        chosen.append(token_of(gen, entry["bytes"], logp))
    for entry, logp, token in zip(content, direct(gen, prompt, chosen), chosen):
        assert entry["logprob"] == pytest.approx(float(logp[token]), abs=TOL)
        assert entry["token"] == gen.token_bytes.text(token) and set(entry) == {"token", "logprob", "bytes", "top_logprobs"}
        values, ids = torch.topk(logp, k)
        assert [t["logprob"] for t in entry["top_logprobs"]] == pytest.approx(values.tolist(), abs=TOL)
        assert [bytes(t["bytes"]) for t in entry["top_logprobs"]] == [gen.token_bytes.bytes[i] for i in ids.tolist()]
    return chosen


MESSAGES = [{"role": "user", "content": "What does the json module do?"}]


def test_chat_logprobs_equal_a_direct_forward_pass_streamed_or_not(gen, url):
    body = {"model": NAME, "messages": MESSAGES, "max_tokens": 8, "temperature": 0, "logprobs": True, "top_logprobs": 5}
    r = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60).json()
    choice = r["choices"][0]
    content = choice["logprobs"]["content"]
    assert len(content) == r["usage"]["completion_tokens"] == 8 and choice["logprobs"]["refusal"] is None
    chosen = check_chat_content(gen, gen.chat_prompt(MESSAGES), content, 5)
    # greedy: each chosen token is the top one, and the tokens' bytes are the reply
    assert all(e["top_logprobs"][0]["bytes"] == e["bytes"] for e in content)
    assert b"".join(bytes(e["bytes"]) for e in content).decode("utf-8", "replace") == gen.tokenizer.decode(chosen, skip_special_tokens=False)

    streamed = []
    with httpx.stream("POST", f"{url}/v1/chat/completions", json=body | {"stream": True}, timeout=60) as s:
        for line in s.iter_lines():
            if line.startswith("data: {"):
                for c in json.loads(line[6:])["choices"]:
                    streamed += (c["logprobs"] or {"content": []})["content"]
    assert streamed == content


def test_sampled_tokens_carry_the_models_own_logprobs(gen, url):
    """temperature, top-k and repetition penalty change the choice, not the reported distribution."""
    body = {"model": NAME, "messages": MESSAGES, "max_tokens": 6, "temperature": 1.7, "top_k": 40, "repetition_penalty": 1.3,
            "seed": 7, "logprobs": True, "top_logprobs": 3}
    content = httpx.post(f"{url}/v1/chat/completions", json=body, timeout=60).json()["choices"][0]["logprobs"]["content"]
    check_chat_content(gen, gen.chat_prompt(MESSAGES), content, 3)


def test_completion_logprobs_legacy_shape_batched_with_other_requests(gen, url):
    prompts = ["The json module", "Files are opened with", "A list comprehension"]

    def ask(i):
        body = {"model": NAME, "prompt": prompts[i], "max_tokens": 6 + 3 * i, "temperature": 0, "logprobs": 2}
        return httpx.post(f"{url}/v1/completions", json=body, timeout=60).json()

    with ThreadPoolExecutor(3) as pool:  # decoded together by the server's batch
        answers = list(pool.map(ask, range(3)))
    for prompt, answer in zip(prompts, answers):
        lp, text = answer["choices"][0]["logprobs"], answer["choices"][0]["text"]
        ids = gen.encode(prompt)
        chosen = gen.complete(ids, SamplingParams(max_new_tokens=len(lp["tokens"]))).token_ids
        assert set(lp) == {"tokens", "token_logprobs", "top_logprobs", "text_offset"} and len(chosen) == len(lp["tokens"])
        for i, (token, logp) in enumerate(zip(chosen, direct(gen, ids, chosen))):
            assert lp["tokens"][i] == gen.token_bytes.text(token)
            assert lp["token_logprobs"][i] == pytest.approx(float(logp[token]), abs=TOL)
            values, top = torch.topk(logp, 2)
            expected = {gen.token_bytes.text(t): v for t, v in zip(top.tolist(), values.tolist())}
            assert lp["top_logprobs"][i].keys() == expected.keys() | {lp["tokens"][i]}
            assert [lp["top_logprobs"][i][t] for t in expected] == pytest.approx(list(expected.values()), abs=TOL)
        # offsets count characters of the shown text: monotone, within it, at each whole token's text
        assert lp["text_offset"] == sorted(lp["text_offset"]) and all(0 <= o <= len(text) for o in lp["text_offset"])
        for token, offset in zip(chosen, lp["text_offset"]):
            piece = gen.token_bytes.text(token)
            if token not in gen.token_bytes.special and not piece.startswith("bytes:"):
                assert text[offset : offset + len(piece)] == piece


def test_completion_stream_splits_the_same_logprobs_across_events(gen, url):
    body = {"model": NAME, "prompt": "The json module", "max_tokens": 10, "temperature": 0, "logprobs": 1}
    whole = httpx.post(f"{url}/v1/completions", json=body, timeout=60).json()["choices"][0]["logprobs"]
    parts = {k: [] for k in whole}
    with httpx.stream("POST", f"{url}/v1/completions", json=body | {"stream": True}, timeout=60) as s:
        for line in s.iter_lines():
            if line.startswith("data: {"):
                for c in json.loads(line[6:])["choices"]:
                    for k in parts:
                        parts[k] += (c["logprobs"] or {}).get(k, [])
    assert parts == whole


def test_the_generator_alone_records_the_same_logprobs(gen):
    """The single-sequence path (no batch decoder): `chat`, `generate`, MT-Bench."""
    ids = gen.encode("The json module")
    stream = gen.stream(ids, SamplingParams(max_new_tokens=5, logprobs=4))
    done = stream.completion()
    for rec, logp in zip(stream.logprobs, direct(gen, ids, done.token_ids)):
        assert rec.logprob == pytest.approx(float(logp[rec.token]), abs=TOL)
        assert [t for t, _ in rec.top] == torch.topk(logp, 4).indices.tolist()
    assert [r.token for r in stream.logprobs[: len(done.token_ids)]] == done.token_ids


def test_bad_logprob_requests_are_400s(url):
    chat = {"model": NAME, "messages": MESSAGES, "max_tokens": 2}
    for extra, needle in (({"top_logprobs": 2}, "top_logprobs needs logprobs"), ({"logprobs": True, "top_logprobs": 21}, "top_logprobs")):
        r = httpx.post(f"{url}/v1/chat/completions", json=chat | extra, timeout=60)
        assert r.status_code == 400 and needle in r.json()["error"]["message"]
    r = httpx.post(f"{url}/v1/completions", json={"model": NAME, "prompt": "x", "logprobs": 21}, timeout=60)
    assert r.status_code == 400 and "logprobs" in r.json()["error"]["message"]
    r = httpx.post(f"{url}/v1/chat/completions", json=chat, timeout=60).json()
    assert r["choices"][0]["logprobs"] is None  # not asked for: null, as OpenAI


def test_the_openapi_schema_documents_logprobs(url):
    schema = httpx.get(f"{url}/openapi.json", timeout=60).json()
    c = schema["components"]["schemas"]
    assert {"logprobs", "top_logprobs"} <= c["ChatCompletionRequest"]["properties"].keys()
    assert c["ChatCompletionRequest"]["dependentSchemas"]["top_logprobs"]["required"] == ["logprobs"]
    assert "logprobs" in c["CompletionRequest"]["properties"]
    assert set(c["TokenLogprobEntry"]["properties"]) == {"token", "logprob", "bytes", "top_logprobs"}
    assert set(c["CompletionLogprobs"]["properties"]) == {"tokens", "token_logprobs", "top_logprobs", "text_offset"}
    ok = schema["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    assert ok["application/json"]["schema"]["$ref"].endswith("/ChatCompletion") and "text/event-stream" in ok
