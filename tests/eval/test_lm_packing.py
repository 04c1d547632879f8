"""The adapter scores the choices of one context in one row (the context once, each choice seeing
only the context and itself) and batches rows; every answer must still be what lm-eval's HFLM
gives for that request alone: shared contexts, one-token choices, contexts cut to the model's
length, a context whose choices overflow one row, an empty context, at batch sizes 1 and 8."""

import pytest
from lm_eval.api.instance import Instance
from lm_eval.models.huggingface import HFLM

from pintsize.data.pydoc_corpus import pydoc_documents
from pintsize.eval.lm import PintsizeLM
from pintsize.serve.generate import Generator


def requests() -> list[Instance]:
    long_text = pydoc_documents(limit=1)[0]["text"][:4000]  # well over the 256-token context
    para = " The quick brown fox jumps over the lazy dog while the band plays on." * 6  # ~100 tokens
    pairs = [
        *(("The capital of France is", c) for c in (" Paris", " Lyon", " a city in the north of the country", " Paris.")),
        *(("Question: which letter?\nAnswer:", c) for c in (" A", " B", " C")),  # one-token choices
        *((long_text, c) for c in (" yes", " no, not at all, it is the other one")),  # cut from the left, differently
        *(("Once upon a time", para * k) for k in (1, 1, 2)),  # too many tokens for one row of 256
        ("", " hello world"),
        ("The capital of France is", " Paris"),  # a repeated request
    ]
    return [Instance("loglikelihood", {}, pair, i) for i, pair in enumerate(pairs)]


@pytest.fixture(scope="module")
def reference(hf_dir):
    return HFLM(pretrained=str(hf_dir), batch_size=1, device="cpu", dtype="float32").loglikelihood(requests(), disable_tqdm=True)


@pytest.mark.parametrize("batch_size", [1, 8])
def test_packed_rows_score_as_hflm_scores_each_request(model_dir, reference, batch_size):
    lm = PintsizeLM(Generator.load(model_dir, device="cpu"), batch_size=batch_size)
    rows = []
    forward = lm.model.hidden_states
    lm.model.hidden_states = lambda x, *a: rows.append(x.shape[0]) or forward(x, *a)
    ours = lm.loglikelihood(requests(), disable_tqdm=True)
    # 16 requests in 7 rows: France x5, the letters, 2 cuts of the long context, 2 rows of 256 for the
    # overflowing choices (~200 + ~100 tokens), the empty context
    assert sum(rows) == 7 and len(rows) == (7 if batch_size == 1 else 1)
    assert [g for _, g in ours] == [g for _, g in reference]
    assert [ll for ll, _ in ours] == pytest.approx([ll for ll, _ in reference], rel=2e-6, abs=1e-4)
    assert ours[0] == ours[-1]  # the same request, the same answer
