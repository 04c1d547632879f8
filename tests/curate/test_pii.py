"""PII masking: datatrove's email/IP rules plus phone numbers, counted; documentation is left alone."""

from __future__ import annotations

from pintsize.curate.config import PIIConfig
from pintsize.curate.pii import PIIMasker

from .realdata import pydoc_texts, sharegpt_chats


def test_masks_and_counts_each_kind():
    text = (
        "Write to jane.doe@example.org or +44 20 7946 0958; call (212) 555-0198 now. "
        "Server 8.8.8.8 talks to 192.168.1.10. Version 3.11.2, date 2023-01-15, id 1234567890."
    )
    masked, counts = PIIMasker(PIIConfig())(text)
    assert counts == {"email": 1, "phone": 2, "ip": 1}
    for secret in ("jane.doe", "7946", "555-0198", "8.8.8.8"):
        assert secret not in masked
    for kept in ("192.168.1.10", "3.11.2", "2023-01-15", "1234567890"):  # private IP, versions, dates, ids
        assert kept in masked


def test_switches_turn_kinds_off():
    text = "mail a@b.com from 1.2.3.4 at 415-555-0100"
    masked, counts = PIIMasker(PIIConfig(emails=False, phones=False))(text)
    assert counts == {"ip": 1} and "a@b.com" in masked and "415-555-0100" in masked


def test_real_text_phones_are_found_and_none_invented():
    masker = PIIMasker(PIIConfig(emails=False, ips=False))
    docs = [d["text"] for d in pydoc_texts(150)]
    assert sum(masker(t)[1]["phone"] for t in docs) == 0  # tables, versions, literals: no phones
    chats = list(sharegpt_chats(300))
    leaked = [t for t in chats if "974-4700" in t]  # a user pasted their CV, phone included
    assert leaked and all("974-4700" not in masker(t)[0] for t in leaked)
