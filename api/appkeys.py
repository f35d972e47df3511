"""Typed application keys shared by the app factory and the handlers."""
from __future__ import annotations

from aiohttp import web

from engine.settings import Settings
from engine.store import Store

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
