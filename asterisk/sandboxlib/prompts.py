"""Installing the repository's prompts (asterisk/prompts) into the rootfs' sounds."""

from __future__ import annotations

import os
import shutil

from .layout import PROMPTS_DIR, rootfs_path


def _chroot_realpath(root: str, path: str) -> str:
    """Host path of `path` as the chroot resolves it (absolute links stay inside)."""
    parts = [p for p in path.split("/") if p]
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        if part == ".":
            continue
        host = os.path.join(root, *resolved, part)
        if os.path.islink(host) and hops < 40:
            hops += 1
            target = os.readlink(host)
            if target.startswith("/"):
                resolved = []
            parts = [p for p in target.split("/") if p] + parts
            continue
        resolved.append(part)
    return os.path.join(root, *resolved)


def install_prompts(rootfs: str | None = None) -> list[str]:
    """Copy asterisk/prompts/<lang>/... into the rootfs' sounds/<lang>/ (sound:callverify/x).

    Each sub-directory (e.g. en/callverify) is mirrored exactly; returns the
    sound directories written.
    """
    rootfs = rootfs or rootfs_path()
    written: list[str] = []
    if not os.path.isdir(PROMPTS_DIR):
        return written
    for lang in sorted(os.listdir(PROMPTS_DIR)):
        src_lang = os.path.join(PROMPTS_DIR, lang)
        if not os.path.isdir(src_lang):
            continue
        dst_lang = _chroot_realpath(rootfs, f"/usr/share/asterisk/sounds/{lang}")
        for dirpath, dirnames, filenames in os.walk(src_lang):
            rel = os.path.relpath(dirpath, src_lang)
            dst_dir = os.path.normpath(os.path.join(dst_lang, rel))
            os.makedirs(dst_dir, exist_ok=True)
            for name in filenames:
                src, dst = os.path.join(dirpath, name), os.path.join(dst_dir, name)
                st = os.stat(src)
                try:
                    same = os.stat(dst).st_size == st.st_size and \
                        int(os.stat(dst).st_mtime) == int(st.st_mtime)
                except OSError:
                    same = False
                if not same:
                    shutil.copy2(src, dst)
            if rel != ".":          # a directory the repo owns: drop stale files
                for name in os.listdir(dst_dir):
                    path = os.path.join(dst_dir, name)
                    if name not in filenames and name not in dirnames and os.path.isfile(path):
                        os.unlink(path)
            written.append(dst_dir)
    return written
