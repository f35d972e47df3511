"""The parts of the Asterisk sandbox provisioner; ``asterisk/sandbox.py`` is its entry point.

Layers, each importing only those above it: ``layout`` (paths), ``host``
(errors, lock, commands), ``mounts``, ``processes``, ``probes``, ``state``,
``shutdown``, ``host_apt``, ``rootfs`` (build/destroy the cache), ``configs``,
``prompts``, ``instance`` (start/status/cli).
"""
