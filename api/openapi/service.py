"""The service's own routes: health (/healthz, /livez, /readyz), this
document (/openapi.json) and its browsable page (/docs, api/docs_page.py)."""
from __future__ import annotations

from api.openapi.parts import Json, json_body, slow_body, text, unavailable

TAG = "Service"
# The Swagger UI files /docs serves (api/docs_page.py), by name.
DOCS_FILES = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png", "favicon-16x16.png")
OK = {"type": "string", "const": "ok"}


def health(operation_id: str, summary: str, failing: str) -> Json:
    """GET of a health endpoint: 200 `ok`, or 503 naming what fails."""
    return {"tags": [TAG], "operationId": operation_id, "summary": summary,
            "responses": {"200": text("`ok`", OK), "408": slow_body(), "503": unavailable(failing)}}


def head(operation: Json) -> Json:
    """The HEAD beside a GET (aiohttp's): the same statuses and headers, no body."""
    responses = {status: {"description": answer["description"]}
                 for status, answer in operation["responses"].items()}
    return {"tags": operation["tags"], "operationId": operation["operationId"] + "Head",
            "summary": operation["summary"] + " (headers only)", "responses": responses}


def paths() -> Json:
    healthz = health("healthz", "Redis answers",
                     "Redis does not answer (text/plain, `service unavailable: …`)")
    livez = health("livez", "The process is up (checks nothing else)",
                   "Unexpected failure")
    readyz = health("readyz", "Ready: Redis answers, ARI connected, the trunk endpoint exists",
                    "Not ready; the body names the failing part (redis, ari, trunk)")
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
