"""Locales: the names there are, and a recording of every prompt the flows
play in each of them (asterisk/prompts/<locale>/callverify/)."""
from __future__ import annotations

import wave
from pathlib import Path

import pytest

from engine.flows import reverse_verify, voice
from engine.locales import LOCALES, locale_problem, playback_language, spoken_digits

PROMPTS = Path(__file__).resolve().parents[2] / "asterisk" / "prompts"
OURS = "sound:callverify/"


def played_names() -> set[str]:
    """Every callverify recording a flow may ask for."""
    media = [*(m for ms in reverse_verify.DEFAULT_PROMPTS.values() for m in ms),
             voice.YOUR_CODE_IS, voice.PRESS_1_TO_REPEAT, voice.GOODBYE,
             *spoken_digits("0123456789")]
    return {m.removeprefix(OURS) for m in media if m.startswith(OURS)}


def test_known_and_unknown_locales():
    assert all(locale_problem(locale) is None for locale in LOCALES)
    assert locale_problem("xx") == "unknown locale 'xx'; known: en, de, fr, es"
    assert locale_problem("") is not None and locale_problem("EN") is not None


def test_english_plays_in_the_channels_own_language():
    assert playback_language("") is None and playback_language("en") is None
    assert playback_language("fr") == "fr"


@pytest.mark.parametrize("locale", LOCALES)
def test_every_prompt_is_recorded_in_each_locale_as_asterisk_plays_it(locale):
    assert len(played_names()) == 18  # 4 keypad, 3 voice, 10 digits, the pause
    for name in played_names():
        with wave.open(str(PROMPTS / locale / "callverify" / f"{name}.wav")) as recording:
            assert (recording.getframerate(), recording.getnchannels(),
                    recording.getsampwidth()) == (8000, 1, 2), name
            assert recording.getnframes() > 0, name
