import pytest

from train_helpers import build_data


@pytest.fixture(scope="session")
def data(tmp_path_factory):
    """(shards, tokenizer) made once per session with the real tokenizer and pack stages."""
    return build_data(tmp_path_factory.mktemp("train-data"))


@pytest.fixture(scope="session")
def shards(data):
    return data[0]
