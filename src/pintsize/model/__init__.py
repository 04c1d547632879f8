"""The Llama model family: configs, the model, checkpoints, Hugging Face interop."""

from pintsize.model.config import NAMED_CONFIGS, ModelConfig, get_config
from pintsize.model.llama import KVCache, Llama

__all__ = ["NAMED_CONFIGS", "ModelConfig", "get_config", "KVCache", "Llama"]
