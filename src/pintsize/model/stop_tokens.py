"""The tokens a generation ends at: one set for pintsize and for every runtime a model is exported to.

llama.cpp ends a generation at the GGUF's eos/eot/eom ids and also at every token whose text it
knows as an end of turn or of text (`special_eog_ids` in llama.cpp's src/llama-vocab.cpp); that
second rule cannot be switched off from the file. A tokenizer trained by pintsize carries
`<|eot_id|>` and `</s>` beside its EOS `<|im_end|>`, so llama.cpp stopped there while pintsize,
transformers and vLLM, which end only at the ids they are given, ran on. So the set is the EOS plus
every token of the vocabulary with one of llama.cpp's texts, and pintsize stops at all of it; the
HF export lists it in `generation_config.json` (`eos_token_id`, which transformers and vLLM read)
and the GGUF export names the end-of-turn token (`tokenizer.ggml.eot_token_id`).
"""

from __future__ import annotations

# llama.cpp's end-of-generation texts (src/llama-vocab.cpp, `special_eog_ids`, as of the llama.cpp
# in xllamacpp 2026.10), its fill-in-the-middle pad/repo/file-separator tokens among them.
# tests/model/test_llama_cpp.py checks that llama.cpp reports the same set for our tokenizers.
LLAMA_CPP_END_TEXTS = frozenset({
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<｜end▁of▁sentence｜>", "[e~[",
    "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]",
    "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", "<|file_sep|>",
})
END_OF_TURN = "<|eot_id|>"  # Llama 3's end of turn; GGUF's `eot_token_id` names it
END_OF_MESSAGE = "<|eom_id|>"


def stop_token_ids(tokenizer) -> list[int]:
    """The EOS first, then every other end token of a transformers tokenizer's vocabulary, by id."""
    vocab = tokenizer.get_vocab()
    ends = sorted(i for text, i in vocab.items() if text in LLAMA_CPP_END_TEXTS)
    eos = tokenizer.eos_token_id
    return ([eos] if eos is not None else []) + [i for i in ends if i != eos]
