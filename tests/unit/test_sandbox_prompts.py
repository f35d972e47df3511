"""The sandbox installs every locale's prompts (asterisk/prompts/<lang>/...),
sub-directories included, where the chroot's Asterisk looks for
sounds/<lang>/ (Debian's `en` is a link through /etc/alternatives)."""
from __future__ import annotations

import os
from pathlib import Path

from asterisk.sandboxlib.prompts import install_prompts
from engine.locales import LOCALES

SOUNDS = "usr/share/asterisk/sounds"


def test_every_locale_and_its_sub_directories_are_installed(tmp_path: Path):
    (tmp_path / SOUNDS / "en_US_f_Allison").mkdir(parents=True)
    (tmp_path / "etc/alternatives").mkdir(parents=True)
    os.symlink(f"/{SOUNDS}/en_US_f_Allison", tmp_path / "etc/alternatives/asterisk-prompt-en")
    os.symlink("/etc/alternatives/asterisk-prompt-en", tmp_path / SOUNDS / "en")
    install_prompts(str(tmp_path))
    for locale in LOCALES:
        # (the host cannot follow the chroot's absolute links: en is read where they lead)
        ours = tmp_path / SOUNDS / ("en_US_f_Allison" if locale == "en" else locale) / "callverify"
        for name in ("enter-code", "your-code-is", "voice/press-1-to-repeat", "voice/goodbye",
                     "digits/0", "digits/9", "digits/pause"):
            assert (ours / f"{name}.wav").is_file(), (locale, name)
