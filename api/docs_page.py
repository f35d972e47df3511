"""GET /openapi.json (the document, api/openapi) and GET /docs, its browsable
page: Swagger UI from the swagger-ui-bundle package, served from here so the
page loads nothing from a CDN.

Only the page's own files are served (api/openapi/service.py DOCS_FILES), read
once when the routes are added and kept in memory: no path from a request ever
reaches the filesystem. No HEAD on these routes: nothing needs it."""
from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web
from swagger_ui_bundle import swagger_ui_path

from api.openapi import document
from api.openapi.service import DOCS_FILES

CONTENT_TYPES = {".css": "text/css", ".js": "text/javascript", ".png": "image/png"}
# The files change only with the package's version: a day's caching is safe.
CACHE = {"Cache-Control": "public, max-age=86400"}

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>callverify API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/favicon-32x32.png" sizes="32x32">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui",
                                 deepLinking: true});
  </script>
</body>
</html>
"""


def static_files(folder: Path = Path(str(swagger_ui_path))) -> dict[str, tuple[bytes, str]]:
    """The page's files: name -> (content, content type)."""
    return {name: ((folder / name).read_bytes(), CONTENT_TYPES[Path(name).suffix])
            for name in DOCS_FILES}


def add_routes(app: web.Application, wrap=lambda handler: handler) -> None:
    """Serve /openapi.json, /docs and /docs/{file} through `wrap` (the app's failure guard)."""
    spec = json.dumps(document()).encode()
    files = static_files()

    async def openapi_json(request: web.Request) -> web.Response:
        return web.Response(body=spec, content_type="application/json")

    async def docs(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def docs_file(request: web.Request) -> web.Response:
        found = files.get(request.match_info["file"])
        if found is None:
            return web.Response(status=404, text="not found\n", content_type="text/plain")
        body, content_type = found
        return web.Response(body=body, content_type=content_type, headers=CACHE)

    app.router.add_get("/openapi.json", wrap(openapi_json), allow_head=False)
    app.router.add_get("/docs", wrap(docs), allow_head=False)
    app.router.add_get("/docs/{file}", wrap(docs_file), allow_head=False)
