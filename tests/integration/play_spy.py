"""What a test's calls asked Asterisk to play: each ARI play request's media and `lang`."""
from __future__ import annotations

from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Played:
    media: list[str]
    lang: str | None


@pytest.fixture
def plays(service) -> list[Played]:
    """Every play request the service sends from now on, in order (sent on to Asterisk)."""
    requests: list[Played] = []
    real_play = service.ari.rest.play

    async def spy(channel_id, media, playback_id, lang=None):
        requests.append(Played(list(media), lang))
        return await real_play(channel_id, media, playback_id, lang=lang)

    service.ari.rest.play = spy
    return requests
