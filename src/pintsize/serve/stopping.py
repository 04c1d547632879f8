"""Stop strings in streamed text: find where the text must end, and how much of it is safe to show.

Text is shown as it is generated, but a tail that could still grow into a stop string is held back
until the next token decides it ("...<|im" might become "...<|im_end|>").
"""

from __future__ import annotations


class StopStrings:
    def __init__(self, stops: tuple[str, ...] | list[str]):
        self.stops = tuple(stops)
        self.longest = max((len(s) for s in self.stops), default=0)

    def find(self, text: str, since: int = 0) -> int | None:
        """Index where `text` must be cut (the earliest stop string), looking only at matches that end
        after `since` (earlier text was already checked)."""
        start = max(0, since - self.longest + 1)
        hits = [i for i in (text.find(s, start) for s in self.stops) if i >= 0]
        return min(hits) if hits else None

    def safe_length(self, text: str) -> int:
        """How much of `text` can be shown: all of it except a tail that is a prefix of a stop string."""
        for k in range(min(self.longest - 1, len(text)), 0, -1):
            tail = text[-k:]
            if any(s.startswith(tail) for s in self.stops):
                return len(text) - k
        return len(text)
