"""The review page in a real browser (Debian's headless Chromium driven by Playwright): sign in,
label documents with the keyboard only, undo, and find it all in the database and audit log."""

import pytest

from pintsize.review import audit
from pintsize.review.curve import CurvePoint, store_learning_curve
from pintsize.review.labeling import save_label

playwright = pytest.importorskip("playwright.sync_api")
expect = playwright.expect

CHROMIUM = "/usr/bin/chromium"
HOSTILE = '<img src="x" onerror="window.__injected = 1"><script>window.__injected = 1</script>\n'


@pytest.fixture
def browser():
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        yield browser
        browser.close()


def _label(db, doc_id, reviewer="alice"):
    with db.read() as conn:
        row = conn.execute("SELECT label, educational_value, note FROM labels WHERE doc_id = ? AND reviewer = ?", (doc_id, reviewer)).fetchone()
    return tuple(row) if row else None


def test_sign_in_and_label_with_the_keyboard(browser, live_server, db, tokens, tmp_path):
    with db.write() as conn:  # a document whose text is markup must show as text, never run
        conn.execute("UPDATE documents SET text = ? || text WHERE position = 0", (HOSTILE,))
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    problems = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))

    page.goto(live_server + "/")
    assert page.url.endswith("/login")
    page.fill("#token", "not-a-valid-token-at-all")
    page.keyboard.press("Enter")
    page.wait_for_selector("#error:has-text('unknown or revoked')")
    problems.clear()  # the browser logs the 401 itself
    page.fill("#token", tokens["alice"])
    page.keyboard.press("Enter")
    page.wait_for_url(live_server + "/")
    expect(page.locator("#doc-text")).not_to_be_empty()

    first = page.inner_text("#doc-id")
    assert page.inner_text("#reviewer") == "alice"
    assert page.inner_text("#doc-source") in {"python-docs", "sharegpt"}
    assert "quality_score" in page.inner_text("#doc-scores")
    assert page.text_content("#doc-text").startswith(HOSTILE)  # shown as text
    assert page.locator("#doc-text img, #doc-text script").count() == 0
    assert page.evaluate("window.__injected") is None
    page.screenshot(path=str(tmp_path / "review.png"))

    # A without a value is refused with a hint; then 4, A saves and moves on
    page.keyboard.press("a")
    page.wait_for_selector("#status:has-text('educational value')")
    page.keyboard.press("4")
    page.keyboard.press("a")
    expect(page.locator("#doc-id")).not_to_have_text(first)
    assert _label(db, first) == (1, 4, "")

    # undo brings the document back unlabelled; relabel it with a note, all by keyboard
    page.keyboard.press("u")
    expect(page.locator("#doc-id")).to_have_text(first)
    expect(page.locator("#status")).to_contain_text("was: accept, value 4")
    assert _label(db, first) is None
    assert page.locator("#scale button[aria-checked='true']").count() == 0
    page.keyboard.press("n")
    page.keyboard.type("reads like an API reference; a chat log would be rejected")
    page.keyboard.press("Escape")
    page.keyboard.press("2")
    page.keyboard.press("r")
    expect(page.locator("#doc-id")).not_to_have_text(first)
    assert _label(db, first) == (0, 2, "reads like an API reference; a chat log would be rejected")

    # skip leaves the next document unlabelled
    second = page.inner_text("#doc-id")
    page.keyboard.press("s")
    expect(page.locator("#doc-id")).not_to_have_text(second)
    assert _label(db, second) is None

    with db.read() as conn:
        log = audit.entries(conn, reviewer="alice")
    actions = [(e["action"], e["doc_id"]) for e in reversed(log)]
    assert actions == [("sign-in", None), ("label", first), ("undo", first), ("label", first), ("skip", second)]
    relabel = log[1]
    assert relabel["old"] is None and relabel["new"] == {"label": 0, "educational_value": 2, "note": _label(db, first)[2]}
    assert log[2]["old"] == {"label": 1, "educational_value": 4, "note": ""} and log[2]["new"] is None

    # the stats page: a second opinion on the first document, and a stored learning curve
    save_label(db, "bob", first, 0, 3)
    store_learning_curve(db, [CurvePoint(10, 0.6, 12), CurvePoint(20, 0.75, 12), CurvePoint(40, 0.9, 12)])
    page.goto(live_server + "/stats")
    page.wait_for_selector("#sources tbody tr")
    assert "python-docs" in page.inner_text("#sources") and "sharegpt" in page.inner_text("#sources")
    assert "alice · bob" in page.inner_text("#agreement") and "100%" in page.inner_text("#agreement")
    assert page.locator("#curve circle").count() == 3
    page.screenshot(path=str(tmp_path / "stats.png"), full_page=True)
    assert problems == []
