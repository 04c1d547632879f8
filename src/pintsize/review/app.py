"""The review web app: three pages (sign-in, review, stats) and a small JSON API under /api.

Handlers are plain `def`s: FastAPI runs them in its thread pool, where blocking SQLite calls
belong. Pages and assets are static files shipped in the package (`web/`); the pages fetch
everything else from the API, and document text is only ever inserted as text, never HTML.

The API's OpenAPI schema is not served (`app.openapi()` still builds it, for tests); it documents
every error the API answers.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from pintsize.http_body import refuse_lone_surrogates

from pintsize.review import labeling, llm_labels, reviewers, stats
from pintsize.review.config import ServerConfig
from pintsize.review.labeling import UnknownDocument
from pintsize.review.schemas import LabelIn, Problem, SignIn, SkipIn
from pintsize.review.security import SESSION_COOKIE, Caller, SecurityMiddleware, authenticate, authenticate_change
from pintsize.review.storage import ReviewDB

WEB_DIR = Path(str(resources.files("pintsize.review") / "web"))


def _problem(description: str, **extra) -> dict:
    return {"model": Problem, "description": description, **extra}


_BAD_BODY = {
    400: _problem("the JSON body holds text that is not valid Unicode (a lone surrogate escape)"),
    # over the limit by its Content-Length: Starlette's plain-text answer; streamed past it: JSON
    413: _problem("the request body is larger than the server's limit", content={"text/plain": {"schema": {"type": "string"}}}),
}
_SIGNED_IN = {
    401: _problem(
        "not signed in, or an unknown or revoked token",
        headers={"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
    )
}
_CHANGE = {**_SIGNED_IN, 403: _problem("a cookie session without its X-CSRF-Token header, or a cross-site request")}
_DOCUMENT = {**_CHANGE, **_BAD_BODY, 404: _problem("no such document in the review queue")}


def create_app(db: ReviewDB, config: ServerConfig | None = None) -> FastAPI:
    config = config or ServerConfig()
    app = FastAPI(
        title="pintsize review",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        max_body_size=config.max_request_bytes,  # counted as the body streams in, and from Content-Length
        dependencies=[Depends(refuse_lone_surrogates)],
    )
    app.state.db = db
    app.add_middleware(SecurityMiddleware)
    # StaticFiles resolves every path inside WEB_DIR and answers 404 to anything that escapes it.
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")

    @app.exception_handler(UnknownDocument)
    def _unknown_document(request: Request, exc: UnknownDocument) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 413:
            exc = StarletteHTTPException(413, f"the request body is larger than this server's limit of {config.max_request_bytes} bytes")
        return await http_exception_handler(request, exc)

    def page(name: str, request: Request, signed_in_only: bool = True) -> Response:
        if signed_in_only:
            session_id = request.cookies.get(SESSION_COOKIE)
            if not session_id or reviewers.session_for(db, session_id) is None:
                return RedirectResponse("/login", status_code=303)
        return FileResponse(WEB_DIR / name, media_type="text/html")

    @app.get("/", include_in_schema=False)
    def review_page(request: Request) -> Response:
        return page("review.html", request)

    @app.get("/stats", include_in_schema=False)
    def stats_page(request: Request) -> Response:
        return page("stats.html", request)

    @app.get("/login", include_in_schema=False)
    def login_page(request: Request) -> Response:
        return page("login.html", request, signed_in_only=False)

    @app.post("/api/session", responses={**_BAD_BODY, 401: _SIGNED_IN[401], 403: _problem("a cross-site request")})
    def sign_in(body: SignIn, request: Request) -> JSONResponse:
        signed = reviewers.sign_in(db, body.token, config.session_hours)
        if signed is None:
            return JSONResponse({"detail": "unknown or revoked reviewer token"}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
        session_id, session = signed
        response = JSONResponse({"reviewer": session.reviewer, "csrf": session.csrf})
        response.set_cookie(
            SESSION_COOKIE,
            session_id,
            max_age=int(config.session_hours * 3600),
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path="/",
        )
        return response

    @app.delete("/api/session", responses=_CHANGE)
    def sign_out(request: Request, caller: Caller = Depends(authenticate_change)) -> JSONResponse:
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id:
            reviewers.sign_out(db, session_id)
        response = JSONResponse({"signed_out": caller.reviewer})
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/api/me", responses=_SIGNED_IN)
    def me(caller: Caller = Depends(authenticate)) -> dict:
        return {"reviewer": caller.reviewer, "csrf": caller.csrf, "progress": labeling.progress(db, caller.reviewer)}

    @app.get("/api/next", responses=_SIGNED_IN)
    def next_document(caller: Caller = Depends(authenticate)) -> dict:
        # A GET that leases a document: harmless to repeat, so it needs no CSRF token.
        doc = labeling.next_document(db, caller.reviewer, config.lease_minutes)
        return {"document": doc, "progress": labeling.progress(db, caller.reviewer)}

    @app.post("/api/labels", responses=_DOCUMENT)
    def save_label(body: LabelIn, caller: Caller = Depends(authenticate_change)) -> dict:
        saved = labeling.save_label(db, caller.reviewer, body.doc_id, body.label, body.educational_value, body.note)
        return {"doc_id": body.doc_id, "label": saved, "progress": labeling.progress(db, caller.reviewer)}

    @app.post("/api/skip", responses=_DOCUMENT)
    def skip(body: SkipIn, caller: Caller = Depends(authenticate_change)) -> dict:
        labeling.skip_document(db, caller.reviewer, body.doc_id)
        return {"skipped": body.doc_id}

    @app.post("/api/undo", responses=_CHANGE)
    def undo(caller: Caller = Depends(authenticate_change)) -> dict:
        doc = labeling.undo_last_label(db, caller.reviewer, config.lease_minutes)
        return {"document": doc, "progress": labeling.progress(db, caller.reviewer)}

    @app.get("/api/stats", dependencies=[Depends(authenticate)], responses=_SIGNED_IN)
    def get_stats() -> dict:
        return {
            "agreement": stats.pair_agreement(db),
            "sources": stats.counts_by_source(db),
            "learning_curve": stats.stored_learning_curve(db),
            "llm_agreement": llm_labels.judge_agreement(db),
            "llm_documents": llm_labels.judged_documents(db),
        }

    return app
