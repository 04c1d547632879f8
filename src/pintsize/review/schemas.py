"""Request bodies of the review API. Unknown fields, wrong types and out-of-range values are
rejected with 422 before any handler runs (numbers must be JSON numbers, not strings)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from pintsize.http_body import json_int

DocId = Annotated[str, StringConstraints(min_length=1, max_length=512)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class SignIn(_Body):
    token: Annotated[str, StringConstraints(min_length=16, max_length=256)]


class LabelIn(_Body):
    doc_id: DocId
    decision: Literal["accept", "reject"]
    educational_value: json_int(ge=0, le=5) = Field(description="0 = no educational value, 5 = outstanding")
    note: str = Field("", max_length=2000)

    @property
    def label(self) -> int:
        return 1 if self.decision == "accept" else 0


class SkipIn(_Body):
    doc_id: DocId


class Problem(BaseModel):
    """The body of an error answer other than a validation error (422)."""

    detail: str
