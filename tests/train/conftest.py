import pytest
import torch

from train_helpers import build_data

# The tiny models gain nothing from a second thread, and OpenMP threads that spin while other
# processes hold the cores make a shared 2-core machine many times slower.
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def data(tmp_path_factory):
    """(shards, tokenizer) made once per session with the real tokenizer and pack stages."""
    return build_data(tmp_path_factory.mktemp("train-data"))


@pytest.fixture(scope="session")
def shards(data):
    return data[0]
