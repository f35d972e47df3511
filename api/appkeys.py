"""Typed application keys shared by the app factory and the handlers."""
from __future__ import annotations

from aiohttp import web

from api.client_limits import ClientLimits
from api.progress import ProgressWatch
from engine.settings import Settings
from engine.store import Store

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
PROGRESS = web.AppKey("progress", ProgressWatch)
LIMITS = web.AppKey("limits", ClientLimits)
