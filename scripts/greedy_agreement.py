"""What `pintsize generate` decides, and the rule another engine's greedy decode is held to; shared
by scripts/check_vllm.py and scripts/check_node_llama_cpp.sh.

    python scripts/greedy_agreement.py ours MODEL_DIR OURS.json [PROMPT ...]   # the project's venv
    python scripts/greedy_agreement.py compare OURS.json THEIRS.json           # any Python

`ours` records, for each prompt and for a chat: the prompt ids, pintsize's greedy ids (its
Generator, fp32 on the CPU, as `pintsize generate` runs it), and at every step the top-2 logit gap
and the chosen token's logprob. `compare` checks another engine's {"prompts": {text: {"prompt",
"ids", "logprobs"?}}, "chat": {...}} against it. The rule:

    Prompt ids (tokenizer, chat template) must be equal. Walking their greedy ids, each is ours
    unless our top-2 logit gap at that step is at most NEAR_TIE (0.05): two implementations may
    round a near-tie the other way, and the continuations part there, so the first such difference
    ends the comparison. Up to there, their logprob of each token is ours within LOGPROB_TOL (1e-2).
    At least MIN_COMPARED tokens (8) must be compared, or all of ours (and the stop), or all
    before our first near-tie, whichever is fewest.

This file imports pintsize only in `ours`, so another engine's venv can import the rule.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

NEAR_TIE = 0.05
LOGPROB_TOL = 1e-2
MIN_COMPARED = 8
NEW_TOKENS = 24
PROMPTS = ["The three primary colors are", "def fibonacci(n):", "Water boils at a temperature of"]
CHAT = [{"role": "user", "content": "What is the capital of France?"}]


def ours(model_dir: str, out: str, prompts: list[str] = PROMPTS) -> None:
    import torch

    from pintsize.serve.generate import Generator
    from pintsize.serve.sampling import SamplingParams

    torch.set_num_threads(1)
    gen = Generator.load(model_dir, device="cpu")

    @torch.no_grad()
    def decode(prompt: list[int]) -> dict:
        done = gen.complete(prompt, SamplingParams(max_new_tokens=NEW_TOKENS))
        ids = done.token_ids
        logits = gen.model(torch.tensor([prompt + ids]))[0, len(prompt) - 1 :, : gen.vocab_size].float()
        top2 = logits.topk(2).values
        logprobs = logits.log_softmax(-1)
        return {"prompt": prompt, "ids": ids, "finish": done.finish_reason, "gaps": (top2[:, 0] - top2[:, 1]).tolist(),
                "logprobs": [float(logprobs[i, t]) for i, t in enumerate(ids)]}

    result = {"stop_ids": sorted(gen.stop_token_ids), "prompts": {}, "chat_messages": CHAT}
    for text in prompts:
        result["prompts"][text] = decode(gen.encode(text))
    result["chat"] = decode(gen.chat_prompt(CHAT))
    Path(out).write_text(json.dumps(result))
    print(f"pintsize: {len(prompts)} prompts and a chat decoded -> {out}")


class Checks:
    """Prints one line per check; `summary` prints the verdict and returns the exit status."""

    def __init__(self, min_compared: int = MIN_COMPARED):
        self.min_compared = min_compared
        self.failed: list[str] = []

    def check(self, ok: bool, what: str) -> bool:
        print(("ok    " if ok else "FAIL  ") + what, flush=True)
        if not ok:
            self.failed.append(what)
        return ok

    def agreement(self, name: str, mine: dict, theirs: list[int], their_logprobs: list[float] | None,
                  stop_ids: list[int], their_finish: str | None = None) -> None:
        """The module's rule, on one decode. An engine that does not report its stop token says
        `their_finish="stop"`."""
        compared, end, worst = 0, "all agree", 0.0
        for i, tok in enumerate(theirs):
            if i == len(mine["ids"]):
                if mine.get("finish") == "length":  # we were asked for no more
                    break
                # pintsize stopped at the end-of-turn token, which the other engine reports as a token
                end = "both stop" if tok in stop_ids else f"they went on with {tok} after our stop"
                compared += tok in stop_ids
                break
            if tok != mine["ids"][i]:
                gap = mine["gaps"][i]
                end = f"near-tie at token {i} (gap {gap:.4f}): vLLM {tok}, ours {mine['ids'][i]}"
                if gap > NEAR_TIE:
                    self.check(False, f"{name}: token {i} differs with a clear gap {gap:.3f} (vLLM {tok}, ours {mine['ids'][i]})")
                    return
                break
            if their_logprobs is not None:
                worst = max(worst, abs(their_logprobs[i] - mine["logprobs"][i]))
            compared += 1
        first_tie = next((i for i, g in enumerate(mine["gaps"]) if g <= NEAR_TIE), len(mine["gaps"]))
        if compared == len(theirs) == len(mine["ids"]) and their_finish == "stop" == mine.get("finish"):
            end, compared = "both stop", compared + 1
        need = min(self.min_compared, len(mine["ids"]) + 1, first_tie)
        lp = f", max logprob diff {worst:.1e}" if their_logprobs is not None else ""
        self.check(compared >= need and worst < LOGPROB_TOL,
                   f"{name}: {compared} tokens equal, of their {len(theirs)} ({end}{lp})")

    def summary(self, engine: str) -> int:
        n = len(self.failed)
        print(f"{engine} check: " + ("all passed" if not n else f"{n} FAILED: " + "; ".join(self.failed)))
        return 1 if n else 0


def compare(ours_json: str, theirs_json: str, min_compared: int = MIN_COMPARED) -> int:
    mine, theirs = json.loads(Path(ours_json).read_text()), json.loads(Path(theirs_json).read_text())
    checks = Checks(min_compared)
    for name, t in [*theirs.get("prompts", {}).items(), ("chat", theirs.get("chat"))]:
        m = mine["chat"] if name == "chat" else mine["prompts"][name]
        if t is None:
            continue
        if checks.check(t["prompt"] == m["prompt"], f"{name!r}: prompt ids are ours ({len(m['prompt'])} tokens)"):
            checks.agreement(repr(name), m, t["ids"], t.get("logprobs"), mine["stop_ids"], t.get("finish"))
    for name, t in theirs.get("informational", {}).items():  # reported, not checked
        same = t["prompt"] == mine["chat"]["prompt"]
        print(f"info  {name}: prompt ids {'are ours' if same else 'differ from ours'} ({len(t['prompt'])} vs {len(mine['chat']['prompt'])} tokens)"
              + ("" if same else f"; first difference at {next((i for i, (a, b) in enumerate(zip(t['prompt'], mine['chat']['prompt'])) if a != b), None)}"))
    return checks.summary(theirs.get("engine", "the other engine"))


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "ours":
        ours(sys.argv[2], sys.argv[3], sys.argv[4:] or PROMPTS)
    elif len(sys.argv) in (4, 5) and sys.argv[1] == "compare":
        sys.exit(compare(sys.argv[2], sys.argv[3], *(int(a) for a in sys.argv[4:])))
    else:
        sys.exit(__doc__)
