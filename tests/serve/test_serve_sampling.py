"""Sampling settings: validated with messages that name the setting; the next-token choice never
picks a padding row; seeded sampling is reproducible."""

import pytest
import torch

from pintsize.serve.sampling import GenerationError, SamplingParams, TokenChooser


@pytest.mark.parametrize(
    "field,value",
    [("max_new_tokens", 0), ("temperature", -0.1), ("temperature", float("nan")), ("top_k", -1), ("top_p", 0.0), ("top_p", 1.5), ("repetition_penalty", 0.0)],
)
def test_bad_setting_is_named(field, value):
    with pytest.raises(GenerationError, match=field):
        SamplingParams(**{field: value})


def test_empty_stop_string_is_refused():
    with pytest.raises(GenerationError, match="stop strings"):
        SamplingParams(stop=("",))


def test_greedy_never_picks_a_padding_row():
    logits = torch.zeros(1, 128)
    logits[0, 120] = 100.0  # a padding row past the 100-token vocabulary
    logits[0, 7] = 1.0
    choose = TokenChooser(SamplingParams(), vocab_size=100, device=torch.device("cpu"))
    assert choose(logits, torch.tensor([[1, 2]])) == 7


def test_sampling_stays_inside_top_k_and_is_reproducible_with_a_seed():
    logits = torch.randn(1, 64, generator=torch.Generator().manual_seed(0))
    top3 = set(logits[0].topk(3).indices.tolist())
    seen = torch.tensor([[1]])
    draws = []
    for seed in (1, 1, 2):
        choose = TokenChooser(SamplingParams(temperature=1.5, top_k=3, seed=seed), vocab_size=64, device=torch.device("cpu"))
        draws.append([choose(logits, seen) for _ in range(40)])
    assert set(draws[0]) <= top3 and len(set(draws[0])) > 1
    assert draws[0] == draws[1] and draws[0] != draws[2]


def test_repetition_penalty_demotes_seen_tokens_even_when_greedy():
    logits = torch.tensor([[2.0, 1.9, 0.0, 0.0]])
    plain = TokenChooser(SamplingParams(), vocab_size=4, device=torch.device("cpu"))
    penalized = TokenChooser(SamplingParams(repetition_penalty=1.5), vocab_size=4, device=torch.device("cpu"))
    seen = torch.tensor([[0]])  # token 0 was already generated: 2.0 / 1.5 < 1.9
    assert plain(logits, seen) == 0 and penalized(logits, seen) == 1


def test_choosers_can_be_made_from_many_threads_at_once():
    """A server's first requests arrive together: making their choosers (which import
    transformers' processors on first use) must not race. In a fresh process, where nothing is
    imported yet; before the fix this failed with 'cannot import name LogitsProcessorList'."""
    import subprocess
    import sys

    code = (
        "from concurrent.futures import ThreadPoolExecutor\n"
        "import torch\n"
        "from pintsize.serve.sampling import SamplingParams, TokenChooser\n"
        "with ThreadPoolExecutor(8) as pool:\n"
        "    made = list(pool.map(lambda i: TokenChooser(SamplingParams(top_p=0.9, temperature=1.0), 100, torch.device('cpu')), range(8)))\n"
        "print(len(made))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "8", done.stderr[-2000:]
