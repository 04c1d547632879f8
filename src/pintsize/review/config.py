"""Settings of the review app: how the queue is drawn from a corpus, and how the server behaves."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pintsize.config_base import Section

Strategy = Literal["stratified", "threshold", "random"]


class QueueConfig(Section):
    """How documents are drawn from a corpus into the review queue."""

    strategy: Strategy = Field(
        "stratified",
        description="stratified: the same number from every source; threshold: the documents whose "
        "quality score is nearest the classifier's threshold (active learning); random: a uniform audit sample",
    )
    size: int = Field(500, gt=0, description="documents to add to the queue")
    threshold: float = Field(0.5, ge=0.0, le=1.0, description="the quality classifier's decision threshold")
    score_column: str = Field("quality_score", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="the score the threshold strategy uses")
    double_fraction: float = Field(0.1, ge=0.0, le=1.0, description="share of documents labelled by two reviewers")
    seed: int = 1234


class ServerConfig(Section):
    """How the web app treats sign-ins and assignments."""

    session_hours: float = Field(12.0, gt=0, description="how long a sign-in lasts")
    lease_minutes: float = Field(15.0, gt=0, description="how long a shown document stays reserved for its reviewer")
    # The largest valid body (a label with a 2,000-character note, every character \u-escaped) is about 12 KB.
    max_request_bytes: int = Field(64 * 1024, gt=0, description="a larger request body is refused with 413 before it is parsed")
