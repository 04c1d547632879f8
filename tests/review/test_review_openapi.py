"""The review API's OpenAPI schema (built from the app object: the app serves none) says what the
API does: a bounded schemathesis run finds no 5xx and no status or body the schema does not document."""

import schemathesis

from pintsize.review.app import create_app


def test_schemathesis_finds_no_5xx_and_no_schema_violation(db, tokens, fuzz_api):
    app = create_app(db)
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = app  # requests go to the app in-process (ASGI), no server
    assert fuzz_api(schema, headers={"Authorization": f"Bearer {tokens['alice']}"}) > 40
