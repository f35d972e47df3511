"""Standard Webhooks signatures on every callback and webhook the deliverer sends.

Headers: `webhook-id` (the delivery's id, the same on every retry),
`webhook-timestamp` (this attempt's send time, whole seconds) and
`webhook-signature`: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{content}">`
for each valid secret, space-separated. The content is the body as sent; a
request without a body (the reverse-verify GET callback) signs its request
target instead, the path and query exactly as they go on the wire.

No secrets are cached here: each attempt reads them (one Redis read), so a
rotation counts from the next attempt of every process.
"""
from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from redis.asyncio import Redis
from standardwebhooks.webhooks import Webhook
from yarl import URL

from engine.webhook_secrets import WebhookSecrets

if TYPE_CHECKING:
    from engine.delivery_record import Delivery


def sign(secret: str, msg_id: str, timestamp: int, content: str) -> str:
    """One `v1,<base64>` signature of `content` with a `whsec_` secret."""
    return Webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, tz=UTC), content)


def request_target(url: str) -> str:
    """The path and query the HTTP client puts on the request line for `url`.

    aiohttp parses a URL given as text with yarl (re-quoting it) and sends
    `raw_path_qs`: the same parse here gives the same text. ValueError for a
    URL it cannot parse.
    """
    return URL(url).raw_path_qs


def signing_headers(secrets: list[str], msg_id: str, timestamp: int,
                    content: str) -> dict[str, str]:
    """The three Standard Webhooks headers, one signature per secret."""
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": " ".join(sign(s, msg_id, timestamp, content) for s in secrets)}


class DeliverySigner:
    """Signs a delivery with its account's secrets at each attempt."""

    def __init__(self, redis: Redis) -> None:
        self.secrets = WebhookSecrets(redis)

    async def headers(self, delivery: Delivery) -> dict[str, str]:
        """The signing headers; none for a delivery stored without its account
        (before deliveries carried one) or whose URL cannot be sent anyway."""
        if not delivery.account_id:
            return {}
        if delivery.body:
            content = delivery.body
        else:
            try:
                content = request_target(delivery.url)
            except ValueError:  # the send fails on the same parse and says why
                return {}
        secrets = await self.secrets.valid(delivery.account_id)
        return signing_headers(secrets, delivery.delivery_id, int(time.time()), content)
