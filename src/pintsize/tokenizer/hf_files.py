"""Save a `tokenizers.Tokenizer` as Hugging Face tokenizer files that old and new readers load.

transformers 5 writes `tokenizer.json`, `tokenizer_config.json` (class `TokenizersBackend`) and
`chat_template.jinja`. We then name the class `PreTrainedTokenizerFast` (known to transformers
4 and 5, vLLM and llama.cpp's converter), record `add_bos_token`, copy the chat template into the
config for readers older than `chat_template.jinja`, and write `special_tokens_map.json`.
"""

from __future__ import annotations

import json
from pathlib import Path

from pintsize.artifacts import atomic_write_json
from pintsize.tokenizer.specials import BOS, CHAT_TOKENS, CHATML_TEMPLATE, EOS, PAD, UNK

CONFIG_FILE = "tokenizer_config.json"


def save_hf_tokenizer(backend, out_dir: Path) -> None:
    """Write `backend` (a tokenizers.Tokenizer holding every special/chat token) into `out_dir`."""
    from transformers import PreTrainedTokenizerFast

    hf = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        chat_template=CHATML_TEMPLATE,
        clean_up_tokenization_spaces=False,
    )
    hf.save_pretrained(out_dir)

    config_path = out_dir / CONFIG_FILE
    config = json.loads(config_path.read_text())
    config.update(
        tokenizer_class="PreTrainedTokenizerFast",
        add_bos_token=True,
        add_eos_token=False,
        chat_template=CHATML_TEMPLATE,
    )
    atomic_write_json(config_path, config)
    atomic_write_json(
        out_dir / "special_tokens_map.json",
        {
            "bos_token": BOS,
            "eos_token": EOS,
            "pad_token": PAD,
            "unk_token": UNK,
            "additional_special_tokens": [t for t in CHAT_TOKENS if t != PAD],
        },
    )
