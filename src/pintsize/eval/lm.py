"""Our model as an lm-evaluation-harness LM: loglikelihood, loglikelihood_rolling and generate_until.

Tokenization, truncation and the empty-context rule follow lm-eval's own Hugging Face backend
(`lm_eval.models.huggingface.HFLM`) step for step, so that a checkpoint scores the same through
this adapter as through HFLM on its Hugging Face export (tests/eval/test_harness_agreement.py).
The differences are that this adapter never chooses a padding row of the vocabulary, and that it
projects only the continuation's positions to the vocabulary.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import torch
import torch.nn.functional as F
from lm_eval import utils as lm_utils
from lm_eval.api.model import TemplateLM
from lm_eval.models.utils import Collator, handle_stop_sequences, normalize_gen_kwargs, postprocess_generated_text
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
        """requests: ((context, continuation) | None, context_ids, continuation_ids) -> (log p, is greedy)."""
        order = Collator(requests, sort_fn=lambda r: (-len(r[1] + r[2]), tuple(r[1] + r[2])))
        results = []
        bar = tqdm(total=len(requests), disable=disable_tqdm, desc="loglikelihood")
        for chunk in order.get_batched(n=self.batch_size):
            # Too long for the context: drop tokens from the left, as HFLM does.
            inputs = [(ctx + cont)[-(self.max_length + 1) :][:-1] for _, ctx, cont in chunk]
            x = torch.zeros(len(chunk), max(map(len, inputs)), dtype=torch.long)
            for row, inp in enumerate(inputs):
                x[row, : len(inp)] = torch.tensor(inp)  # right padding: causal attention never sees it
            hidden = self.model.hidden_states(x.to(self._device))
            for row, ((key, _, cont), inp) in enumerate(zip(chunk, inputs)):
                positions = hidden[row, len(inp) - len(cont) : len(inp)]
                logprobs = F.log_softmax(self.model.lm_head(positions)[:, : self.vocab_size].float(), dim=-1)
                target = torch.tensor(cont, device=self._device)
                answer = (
                    float(logprobs.gather(1, target[:, None]).sum()),
                    bool((logprobs.argmax(dim=-1) == target).all()),
                )
                results.append(answer)
                if key is not None:
                    self.cache_hook.add_partial("loglikelihood", key, answer)
                bar.update(1)
        bar.close()
        return order.get_original(results)

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
