"""The OpenAPI 3.1 document of every route the public listener serves: the
native /v1 API, the two seed APIs, health, and the document's own routes.

Built here from parts (api/openapi/*.py), served at /openapi.json and
browsable at /docs (api/docs_page.py). tests/integration/test_openapi*.py
prove that it validates, that it lists exactly the routes the app serves,
and that the live API answers within it."""
from __future__ import annotations

from api.openapi import seed, service, v1, v1_schemas
from api.openapi.parts import Json

DESCRIPTION = """Phone-number verification by voice call, self-hosted on Asterisk.

- **/v1**: one JSON API for every channel (keypad, caller_id, voice), with
  `Authorization: Bearer <token>` (the account's token, `callverify account create`)
  and RFC 9457 `application/problem+json` errors whose `type` is stable per error.
- **The seed APIs**, unchanged: called.in's reverse verify (GET, a return code as
  text/plain) and MCN's password call (POST, JSON).
- **Health**: /healthz (Redis), /livez (process), /readyz (Redis, ARI, trunk).

Every route may also answer 503 when the process holds CALLVERIFY_MAX_CONNECTIONS
connections (`too many connections`, text/plain, `Retry-After: 1`), and 408 when a
request's body does not arrive within CALLVERIFY_READ_TIMEOUT. No route answers 500.
See docs/api.md in the repository."""


def document() -> Json:
    """The whole OpenAPI document, as a JSON-ready dict."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "callverify", "version": "1", "description": DESCRIPTION},
        "tags": [{"name": v1.TAG, "description": "The native JSON API."},
                 {"name": seed.REVERSE_VERIFY_TAG}, {"name": seed.PASSWORD_CALL_TAG},
                 {"name": service.TAG, "description": "Health and this document."}],
        "paths": {**v1.paths(), **seed.paths(), **service.paths()},
        "components": {
            "securitySchemes": {"bearerAuth": {
                "type": "http", "scheme": "bearer",
                "description": "The account's token (`callverify account create`, "
                               "`rotate-token`)."}},
            "schemas": {**v1_schemas.SCHEMAS, **seed.SCHEMAS},
        },
    }
