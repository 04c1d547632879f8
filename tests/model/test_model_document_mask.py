"""Packing with a document mask: two documents in one sequence give exactly the logits they give alone."""

import torch

from pintsize.model.config import get_config
from pintsize.model.llama import Llama
from pintsize.model.masks import document_causal_mask, document_ids


def test_document_ids_from_positions():
    pos = torch.tensor([[5, 6, 7, 0, 1, 0, 1, 2]])  # a row that starts mid-document
    assert document_ids(pos).tolist() == [[0, 0, 0, 1, 1, 2, 2, 2]]
    mask = document_causal_mask(pos)[0, 0]
    assert mask[4].tolist() == [False, False, False, True, True, False, False, False]
    assert mask[2].tolist() == [True, True, True, False, False, False, False, False]


def test_packed_documents_match_separate_runs():
    torch.manual_seed(0)
    model = Llama(get_config("tiny", vocab_size=500, n_layer=2)).eval()
    a = torch.randint(0, 500, (1, 13))
    b = torch.randint(0, 500, (1, 9))
    packed = torch.cat([a, b], dim=1)
    positions = torch.cat([torch.arange(13), torch.arange(9)])[None]
    with torch.no_grad():
        together = model(packed, positions=positions)
        alone_a, alone_b = model(a), model(b)
        unmasked = model(packed)
    assert torch.allclose(together[:, :13], alone_a, atol=1e-5)
    assert torch.allclose(together[:, 13:], alone_b, atol=1e-5)
    # without the mask, document b sees document a: the test would notice a missing mask
    assert not torch.allclose(unmasked[:, 13:], alone_b, atol=1e-3)


def test_kv_cache_decoding_matches_full_forward():
    torch.manual_seed(0)
    model = Llama(get_config("tiny", vocab_size=500, n_layer=2, n_kv_head=1)).eval()
    x = torch.randint(0, 500, (2, 24))
    cache = model.new_kv_cache(2, 32)
    with torch.no_grad():
        full = model(x)
        parts = [model(x[:, :10], kv_cache=cache), model(x[:, 10:17], kv_cache=cache)]
        parts += [model(x[:, t : t + 1], kv_cache=cache) for t in range(17, 24)]
    assert cache.length == 24
    assert torch.allclose(torch.cat(parts, dim=1), full, atol=1e-5)
