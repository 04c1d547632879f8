"""The Llama model family: configs, the model, checkpoints, Hugging Face interop.

The model (and torch with it) is imported on first use, so that importing a submodule such as
`pintsize.model.commands` (which `pintsize --help` does) stays light.
"""

from pintsize.model.config import NAMED_CONFIGS, ModelConfig, get_config

__all__ = ["NAMED_CONFIGS", "ModelConfig", "get_config", "KVCache", "Llama"]


def __getattr__(name: str):
    if name in ("KVCache", "Llama"):
        from pintsize.model import llama

        return getattr(llama, name)
    raise AttributeError(f"module 'pintsize.model' has no attribute {name!r}")
