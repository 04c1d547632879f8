"""Our model as an lm-evaluation-harness LM: loglikelihood, loglikelihood_rolling and generate_until.

Tokenization, truncation and the empty-context rule follow lm-eval's own Hugging Face backend
(`lm_eval.models.huggingface.HFLM`) step for step, so that a checkpoint scores the same through
this adapter as through HFLM on its Hugging Face export (tests/eval/test_harness_agreement.py).
The differences are that this adapter never chooses a padding row of the vocabulary, that it
projects only the continuation's positions to the vocabulary, and that the choices of one context
share a row: the context runs once (HFLM runs it once per choice, except for one-token choices).
Scores stay HFLM's to float rounding (tests/eval/test_lm_packing.py, benchmarks/harness_throughput.py).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from lm_eval import utils as lm_utils
from lm_eval.api.model import TemplateLM
from lm_eval.models.utils import handle_stop_sequences, normalize_gen_kwargs, postprocess_generated_text
from tqdm import tqdm

from pintsize.serve.generate import Generator
from pintsize.serve.sampling import SamplingParams


class PintsizeLM(TemplateLM):
    def __init__(self, generator: Generator, batch_size: int = 8, max_length: int | None = None, max_gen_toks: int = 256):
        super().__init__()
        self.generator = generator
        self.model = generator.model
        self.tokenizer = generator.tokenizer
        self.vocab_size = generator.vocab_size
        self.batch_size = batch_size
        self._max_length = max_length or generator.context_length
        self._max_gen_toks = max_gen_toks
        self._device = self.model.tok_emb.weight.device

    # ------------------------------------------------------------ tokens

    @property
    def eot_token_id(self) -> int:
        return self.tokenizer.eos_token_id

    @property
    def prefix_token_id(self) -> int:
        bos = self.tokenizer.bos_token_id
        return bos if bos is not None else self.tokenizer.eos_token_id

    @property
    def max_length(self) -> int:
        return self._max_length

    @property
    def max_gen_toks(self) -> int:
        return self._max_gen_toks

    @property
    def tokenizer_name(self) -> str:
        return self.tokenizer.name_or_path.replace("/", "__")

    def tok_encode(self, string: str, add_special_tokens: bool | None = None, left_truncate_len: int | None = None, **kwargs) -> list[int]:
        if add_special_tokens is None:  # the tokenizer's default (BOS added), unless the text already opens with BOS
            bos = self.tokenizer.bos_token
            add_special_tokens = not (bos and string.startswith(bos))
        ids = self.tokenizer.encode(string, add_special_tokens=add_special_tokens)
        return ids[-left_truncate_len:] if left_truncate_len else ids

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
        return self.tokenizer.apply_chat_template(chat_history, tokenize=False, add_generation_prompt=add_generation_prompt)

    # ------------------------------------------------------------ scoring

    @torch.inference_mode()
    def _loglikelihood_tokens(self, requests, disable_tqdm: bool = False, **kwargs) -> list[tuple[float, bool]]:
        """requests: ((context, continuation) | None, context_ids, continuation_ids) -> (log p, is greedy).

        Each request's input is what HFLM feeds (context + continuation, cut from the left to the
        context length, less the last token). Requests whose inputs share everything up to the
        position that predicts the first continuation token (the choices of one multiple-choice
        item) go into one row: the shared prefix once, then each choice's remaining tokens, with
        the positions they would have alone and a mask that lets a choice see only the prefix and
        itself. A row holds at most the context length; `batch_size` rows run per forward pass."""
        rows = _pack_rows([(ctx + cont)[-(self.max_length + 1) :][:-1] for _, ctx, cont in requests],
                          [len(cont) for _, _, cont in requests], self.max_length)
        rows.sort(key=lambda r: -r.length)  # similar lengths share a batch: little padding
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        bar = tqdm(total=len(requests), disable=disable_tqdm, desc="loglikelihood")
        for b in range(0, len(rows), self.batch_size):
            batch = rows[b : b + self.batch_size]
            for i, answer in self._score_rows(batch, requests):
                results[i] = answer
                if requests[i][0] is not None:
                    self.cache_hook.add_partial("loglikelihood", requests[i][0], answer)
            bar.update(sum(len(r.members) for r in batch))
        bar.close()
        return results

    def _score_rows(self, batch: list[_Row], requests) -> list[tuple[int, tuple[float, bool]]]:
        T = batch[0].length
        x = torch.zeros(len(batch), T, dtype=torch.long)
        pos = torch.zeros(len(batch), T, dtype=torch.long)
        seg = torch.full((len(batch), T), -1, dtype=torch.long)  # -1 padding, 0 the prefix, k the k-th choice
        for r, row in enumerate(batch):
            x[r, : row.length] = torch.tensor(row.tokens)
            pos[r, : row.length] = torch.tensor(row.positions)
            seg[r, : row.length] = torch.tensor(row.segments)
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        mask = causal & ((seg[:, None, :] == 0) | (seg[:, None, :] == seg[:, :, None]))
        mask |= torch.eye(T, dtype=torch.bool)  # a padding query attends to itself (no empty softmax row)
        hidden = self.model.hidden_states(x.to(self._device), pos.to(self._device), mask[:, None].to(self._device))
        # The scored positions of a row are contiguous: the prefix's last token, then every choice token.
        scored = torch.cat([hidden[r, row.prefix - 1 : row.length] for r, row in enumerate(batch)])
        logprobs = F.log_softmax(self.model.lm_head(scored)[:, : self.vocab_size].float(), dim=-1)
        index, target, owner, members = [], [], [], []
        base = 0
        for row in batch:
            for k, (i, offset) in enumerate(zip(row.members, row.offsets)):
                cont = requests[i][2]
                n = len(cont)
                index += [base] + list(range(base + 1 + offset, base + offset + n))
                target += cont[-n:]
                owner += [k + len(members)] * n
            members += row.members
            base += row.length - row.prefix + 1
        index_t, target_t, owner_t = (torch.tensor(v, device=self._device) for v in (index, target, owner))
        picked = logprobs[index_t, target_t]
        totals = torch.zeros(len(members), dtype=picked.dtype, device=self._device).index_add_(0, owner_t, picked)
        misses = torch.zeros(len(members), dtype=torch.long, device=self._device).index_add_(
            0, owner_t, (logprobs[index_t].argmax(dim=-1) != target_t).long()
        )
        return [(i, (float(t), bool(m == 0))) for i, t, m in zip(members, totals.tolist(), misses.tolist())]

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        """Whole-text log-likelihood in disjoint windows of the context length (lm-eval's windowing)."""
        windows, owners = [], []
        for i, (text,) in enumerate(req.args for req in requests):
            token_windows = lm_utils.get_rolling_token_windows(
                token_list=self.tok_encode(text), prefix_token=self.prefix_token_id, max_seq_len=self.max_length, context_len=1
            )
            for w in map(lm_utils.make_disjoint_window, token_windows):
                windows.append((None, *w))
                owners.append(i)
        scores = self._loglikelihood_tokens(windows, disable_tqdm=disable_tqdm)
        totals = [0.0] * len(requests)
        for i, (logprob, _) in zip(owners, scores):
            totals[i] += logprob
        for req, total in zip(requests, totals):
            self.cache_hook.add_partial("loglikelihood_rolling", req.args, total)
        return totals

    # ------------------------------------------------------------ generation

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """Up to `batch_size` requests decode together (the server's continuous batching), each
        getting the text it would get alone."""
        from pintsize.serve.batching import batched_decoding

        eos = self.tokenizer.decode([self.eot_token_id], skip_special_tokens=False)
        jobs = []
        for req in requests:
            context, gen_kwargs = req.args
            kwargs = normalize_gen_kwargs(dict(gen_kwargs), self.max_gen_toks)
            until = handle_stop_sequences(kwargs.pop("until", None), eos=eos)
            max_new = kwargs.pop("max_gen_toks")
            params = SamplingParams(
                max_new_tokens=max_new,
                temperature=float(kwargs.get("temperature") or 0.0) if kwargs.get("do_sample") else 0.0,
                top_p=float(kwargs.get("top_p") or 1.0),
                top_k=int(kwargs.get("top_k") or 0),
                stop=tuple(until),
            )
            # Keep room to generate (HFLM keeps max_length - max_gen_toks context tokens; a short
            # context would leave none, so at least half of it stays for the prompt).
            ids = self.tok_encode(context, left_truncate_len=self.max_length - min(max_new, self.max_length // 2))
            jobs.append((ids, params, until))

        with batched_decoding(self.generator, self.batch_size) as decoder, ThreadPoolExecutor(self.batch_size) as pool:
            def complete(job) -> str:
                ids, params, until = job
                return postprocess_generated_text(self.generator.stream(ids, params, decoder).completion().text, until, None)

            out = list(tqdm(pool.map(complete, jobs), total=len(jobs), disable=disable_tqdm, desc="generate_until"))
        for req, text in zip(requests, out):
            self.cache_hook.add_partial("generate_until", req.args, text)
        return out


@dataclass
class _Row:
    """One forward-pass row: a shared prefix and the remaining tokens of each request that shares it."""

    prefix: int  # tokens of the shared prefix (its last one predicts each choice's first token)
    tokens: list[int] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    segments: list[int] = field(default_factory=list)
    members: list[int] = field(default_factory=list)  # request indices
    offsets: list[int] = field(default_factory=list)  # where each member's own tokens start, after the prefix

    @property
    def length(self) -> int:
        return len(self.tokens)


def _pack_rows(inputs: list[list[int]], cont_lens: list[int], max_len: int) -> list[_Row]:
    """Group requests by the part of their input before the continuation's scored positions;
    each group fills rows of at most `max_len` tokens (a request alone always fits: HFLM's cut)."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, (inp, n) in enumerate(zip(inputs, cont_lens)):
        groups.setdefault(tuple(inp[: len(inp) - n + 1]), []).append(i)
    rows: list[_Row] = []
    for prefix, members in groups.items():
        row = None
        for i in sorted(members, key=lambda i: -cont_lens[i]):
            own = inputs[i][len(prefix) :]
            if row is None or row.length + len(own) > max_len:
                row = _Row(len(prefix), list(prefix), list(range(len(prefix))), [0] * len(prefix))
                rows.append(row)
            row.members.append(i)
            row.offsets.append(row.length - row.prefix)
            row.tokens += own
            row.positions += range(row.prefix, row.prefix + len(own))
            row.segments += [len(row.members)] * len(own)
    return rows
