"""A scripted ARI for unit tests of the flow primitives: no sockets.

`script` reacts to each REST call by queueing the events Asterisk would send.
"""
from __future__ import annotations

import asyncio

from engine.ari.client import AriClient
from engine.ari.rest import AriError


class ScriptedRest:
    def __init__(self, owner: ScriptedAri) -> None:
        self.owner = owner
        self.requests: list[tuple] = []
        self.languages: list[str | None] = []  # each play request's `lang`

    async def originate(self, **kwargs):
        self.requests.append(("originate", kwargs))
        self.owner.react("originate", kwargs)
        return {"id": kwargs["channel_id"]}

    async def play(self, channel_id, media, playback_id, lang=None):
        self.requests.append(("play", media))
        self.languages.append(lang)
        self.owner.react("play", {"channel_id": channel_id, "media": media,
                                  "playback_id": playback_id})
        return {"id": playback_id}

    async def stop_playback(self, playback_id):
        self.requests.append(("stop_playback", playback_id))
        self.owner.react("stop_playback", {"playback_id": playback_id})

    async def hang_up(self, channel_id, reason="normal"):
        self.requests.append(("hang_up", channel_id))
        if self.owner.gone:
            return False
        self.owner.gone = True
        return True

    async def channels(self):
        return []

    async def channel_variable(self, channel_id, name):
        self.requests.append(("variable", name))
        return self.owner.variables.get(name)


class ScriptedAri(AriClient):
    def __init__(self, reactions=None) -> None:
        self.app = "cvtest"
        self.rest = ScriptedRest(self)
        self._queues = {}
        self._connect_hooks = []
        self.reactions = reactions or {}
        self.channel_id = None
        self.gone = False
        self.variables: dict[str, str] = {}

    def react(self, action: str, args: dict) -> None:
        if action == "originate":
            self.channel_id = args["channel_id"]
        reaction = self.reactions.get(action)
        if reaction is None:
            return
        events = reaction(args) if callable(reaction) else reaction
        for event in events:
            self.send(event)

    def send(self, event: dict) -> None:
        event = dict(event)
        if "playback" in event:
            event["playback"] = {"target_uri": f"channel:{self.channel_id}", **event["playback"]}
        else:
            event.setdefault("channel", {"id": self.channel_id, "state": "Up"})
        self._route(event)

    def keys(self, digits: str) -> None:
        for digit in digits:
            self.send({"type": "ChannelDtmfReceived", "digit": digit})


def answered(args):
    return [{"type": "Dial", "dialstatus": "RINGING", "peer": {"id": args["channel_id"]}},
            {"type": "StasisStart", "channel": {"id": args["channel_id"], "state": "Up"}}]


def failed(cause):
    def events(args):
        return [{"type": "ChannelDestroyed", "cause": cause, "cause_txt": "x",
                 "channel": {"id": args["channel_id"], "state": "Down"}}]
    return events


def playback_finishes(args):
    return [{"type": "PlaybackFinished", "playback": {"id": args["playback_id"]}}]


__all__ = ["ScriptedAri", "AriError", "answered", "failed", "playback_finishes", "asyncio"]
