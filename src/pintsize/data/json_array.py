"""Stream the elements of a JSON array file, one at a time.

Chat dumps such as ShareGPT's are single JSON arrays of hundreds of MB, sometimes cut off in the
middle of a record; `json.load` would need the whole file in memory and fail on the cut. This
reads a chunk at a time and stops cleanly at a truncated last element.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TextIO

_SEPARATORS = " \t\r\n,"


def iter_json_array(f: TextIO, chunk_chars: int = 1 << 20) -> Iterator[object]:
    """Every complete element of the JSON array that `f` holds, in order."""
    decoder = json.JSONDecoder()
    buf = f.read(chunk_chars)
    pos = buf.index("[") + 1
    while True:
        while pos < len(buf) and buf[pos] in _SEPARATORS:
            pos += 1
        if pos < len(buf) and buf[pos] == "]":
            return
        try:
            item, pos = decoder.raw_decode(buf, pos)
        except json.JSONDecodeError:
            more = f.read(chunk_chars)
            if not more:
                return  # the file ends inside an element: it was truncated
            buf, pos = buf[pos:] + more, 0
            continue
        yield item
