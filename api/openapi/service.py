"""The service's own routes: health (/healthz, /livez, /readyz), this
document (/openapi.json) and its browsable page (/docs, api/docs_page.py)."""
from __future__ import annotations

from api.openapi.parts import Json, json_body, slow_body, text, unavailable

TAG = "Service"
# The Swagger UI files /docs serves (api/docs_page.py), by name.
DOCS_FILES = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png")
OK = {"type": "string", "const": "ok"}


def health(operation_id: str, summary: str, failing: str, guarded: bool = True) -> Json:
    """GET of a health endpoint: 200 `ok`, or 503 naming what fails (and,
    `guarded` by the app's failure guard, 408 for a body that never came)."""
    responses = {"200": text("`ok`", OK), "408": slow_body(), "503": unavailable(failing)}
    if not guarded:
        del responses["408"]
    return {"tags": [TAG], "operationId": operation_id, "summary": summary,
            "responses": responses}


def head(operation: Json) -> Json:
    """The HEAD beside a GET (aiohttp's): the same statuses and headers, no body."""
    responses = {status: {"description": answer["description"]}
                 for status, answer in operation["responses"].items()}
    return {"tags": operation["tags"], "operationId": operation["operationId"] + "Head",
            "summary": operation["summary"] + " (headers only)", "responses": responses}


def paths() -> Json:
    healthz = health("healthz", "Redis answers",
                     "Redis does not answer (text/plain, `service unavailable: …`)")
    livez = health("livez", "The process is up (reads nothing else)",
                   "Not from /livez itself: only", guarded=False)
    readyz = health("readyz", "Ready: Redis answers and an engine is connected to ARI "
                    "with the trunk endpoint (CALLVERIFY_TRUNK_ENDPOINT)",
                    "Not ready, naming the first failing part: `not ready: redis not "
                    "answering`, `not ready: ari not connected`, `not ready: trunk endpoint "
                    "trunk not found`")
    return {
        "/healthz": {"get": healthz, "head": head(healthz)},
        "/livez": {"get": livez, "head": head(livez)},
        "/readyz": {"get": readyz, "head": head(readyz)},
        "/openapi.json": {"get": {
            "tags": [TAG], "operationId": "openapi", "summary": "This document (OpenAPI 3.1)",
            "responses": {"200": json_body("The document.", {"type": "object",
                                                             "required": ["openapi", "paths"]}),
                          "408": slow_body(), "503": unavailable()}}},
        "/docs": {"get": {
            "tags": [TAG], "operationId": "docs",
            "summary": "This document as a browsable page (Swagger UI, served from here: no CDN)",
            "responses": {"200": {"description": "The page.",
                                  "content": {"text/html": {"schema": {"type": "string"}}}},
                          "408": slow_body(), "503": unavailable()}}},
        "/docs/{file}": {"get": {
            "tags": [TAG], "operationId": "docsFile", "summary": "The page's static files",
            "parameters": [{"name": "file", "in": "path", "required": True,
                            "schema": {"enum": list(DOCS_FILES)}}],
            "responses": {"200": {"description": "The file (CSS, JavaScript, PNG).", "content": {
                              "text/css": {"schema": {"type": "string"}},
                              "text/javascript": {"schema": {"type": "string"}},
                              "image/png": {"schema": {"type": "string",
                                                       "contentMediaType": "image/png"}}}},
                          "404": text("Not one of the page's files."),
                          "408": slow_body(), "503": unavailable()}}},
    }
