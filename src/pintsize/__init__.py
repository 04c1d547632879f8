"""pintsize: from raw text to a small, capable chat model, by putting the effort into the data."""

__version__ = "0.1.0"
