"""Our lm-eval adapter scores like lm-eval's own Hugging Face backend (HFLM) on the exported
checkpoint: the same accuracies and log-likelihoods on 200 real HellaSwag items (the model with
the small trained BPE: HFLM projects every position onto the vocabulary), and, with the Pints
tokenizer, the same rolling log-likelihood of long documents and the same greedy generations."""

import pytest
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM

from pintsize.data.pydoc_corpus import pydoc_documents
from pintsize.eval.harness import run_harness
from pintsize.eval.lm import PintsizeLM
from pintsize.serve.generate import Generator


def both(model_dir, hf_dir):
    ours = PintsizeLM(Generator.load(model_dir, device="cpu"), batch_size=32)
    theirs = HFLM(pretrained=str(hf_dir), batch_size=32, device="cpu", dtype="float32")
    return ours, theirs


@pytest.fixture(scope="module")
def backends(model_dir, hf_dir):
    return both(model_dir, hf_dir)


def test_hellaswag_scores_equal_hflm(bpe_model_dir, bpe_hf_dir, eval_data):
    ours, theirs = both(bpe_model_dir, bpe_hf_dir)
    a = run_harness(ours, ["pintsize_hellaswag"], limit=200, data_dir=eval_data, log_samples=True)
    b = run_harness(theirs, ["pintsize_hellaswag"], limit=200, data_dir=eval_data, log_samples=True)
    ra, rb = a["results"]["pintsize_hellaswag"], b["results"]["pintsize_hellaswag"]
    assert ra["sample_len"] == 200
    assert ra["acc,none"] == rb["acc,none"] and ra["acc_norm,none"] == rb["acc_norm,none"]
    for sa, sb in zip(a["samples"]["pintsize_hellaswag"], b["samples"]["pintsize_hellaswag"], strict=True):
        assert sa["doc_id"] == sb["doc_id"]
        for (la, ga), (lb, gb) in zip((r[0] for r in sa["resps"]), (r[0] for r in sb["resps"]), strict=True):
            assert la == pytest.approx(lb, abs=1e-3) and ga == gb


def test_rolling_loglikelihood_equals_hflm(backends):
    ours, theirs = backends
    docs = [d["text"][:3000] for d in pydoc_documents(limit=3)]  # longer than the 256-token context
    reqs = [Instance("loglikelihood_rolling", {}, (t,), i) for i, t in enumerate(docs)]
    assert ours.loglikelihood_rolling(reqs, disable_tqdm=True) == pytest.approx(theirs.loglikelihood_rolling(reqs, disable_tqdm=True), rel=1e-5)


def test_greedy_generations_equal_hflm(backends, eval_data):
    ours, theirs = backends
    import json

    questions = [json.loads(line)["question"] for line in open(eval_data / "gsm8k" / "test.jsonl")][:4]
    kwargs = {"until": ["Question:", "</s>", "<|im_end|>", "\n\n"], "do_sample": False, "max_gen_toks": 24}
    reqs = [Instance("generate_until", {}, (f"Question: {q}\nAnswer:", dict(kwargs)), i) for i, q in enumerate(questions)]
    got = ours.generate_until(reqs, disable_tqdm=True)
    assert got == theirs.generate_until(reqs, disable_tqdm=True)
    assert all(got)
