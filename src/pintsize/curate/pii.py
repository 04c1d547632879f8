"""Step 5: masking personal data (emails, public IPv4 addresses, phone numbers), counted.

Emails and IPs use datatrove's PIIFormatter patterns, validator and replacement values
(real-looking placeholders, so the model does not learn a mask token); phone numbers, which
datatrove does not cover, need separators between digit groups so that numeric literals in
code and tables are not taken for phones.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

from pintsize.curate.config import PIIConfig

_PHONE = re.compile(
    r"(?<![\w+.-])(?:"
    r"(?:\+1[ .-]?)?\(?[2-9]\d{2}\)?[ .-]\d{3}[ .-]\d{4}"  # (555) 123-4567, +1 555.123.4567
    r"|\+\d{1,3}(?:[ .-]\d{2,4}){2,4}"  # +44 20 7946 0958
    r")(?![\w.-]*\d)"
)
# Fictional numbers: the 555-01xx block is reserved for fiction in North America.
_PHONE_REPLACEMENTS = ("555-0100", "555-0123", "555-0142", "555-0175", "555-0199")


class PIIMasker:
    def __init__(self, config: PIIConfig):
        from datatrove.pipeline.formatters.pii import PIIFormatter

        reference = PIIFormatter(only_remove_public_ips=True)
        self.rules: list[tuple[str, re.Pattern, Callable[[str], bool] | None, tuple[str, ...]]] = []
        if config.emails:
            r = reference.emails_replacer
            self.rules.append(("email", r.regex, r.validator, r.replacements))
        if config.ips:
            r = reference.ip_replacer
            self.rules.append(("ip", r.regex, r.validator, r.replacements))
        if config.phones:
            self.rules.append(("phone", _PHONE, None, _PHONE_REPLACEMENTS))

    def __call__(self, text: str) -> tuple[str, Counter]:
        """The masked text and how many of each kind were masked. Replacements cycle from the
        start in every document, so the result does not depend on document order."""
        counts: Counter = Counter()
        for kind, pattern, validator, replacements in self.rules:

            def replace(m: re.Match, kind=kind, validator=validator, replacements=replacements) -> str:
                if validator is not None and not validator(m.group(0)):
                    return m.group(0)
                counts[kind] += 1
                return replacements[(counts[kind] - 1) % len(replacements)]

            text = pattern.sub(replace, text)
        return text, counts
