"""The locales a call can speak: its prompts and its spoken digits.

Each locale has its own copy of every callverify prompt, digits 0-9
included (asterisk/prompts/<locale>/callverify/, made by make-prompts.sh),
so a call needs no Asterisk language pack. A prompt is named the same in
every locale (`sound:callverify/enter-code`); ARI's `lang` picks the copy.
"" is the seed APIs' English, played as it always was.
"""
from __future__ import annotations

LOCALES = ("en", "de", "fr", "es")
DEFAULT_LOCALE = "en"


def locale_problem(value: str) -> str | None:
    """Why `value` is no locale (a message naming the ones there are), or None."""
    if value in LOCALES:
        return None
    return f"unknown locale {value!r}; known: {', '.join(LOCALES)}"


def is_locale(value: object) -> bool:
    return isinstance(value, str) and value in LOCALES


def playback_language(locale: str) -> str | None:
    """The `lang` to play a locale's prompts in; None for English, which is
    the channel's own language (the seed flows' requests stay as they were)."""
    return None if locale in ("", DEFAULT_LOCALE) else locale


def sound(name: str) -> str:
    """A callverify prompt's media URI: `sound:callverify/<name>`."""
    return f"sound:callverify/{name}"


DIGIT_PAUSE = sound("digits/pause")


def spoken_digits(code: str) -> list[str]:
    """Each digit of `code` as our own recording, with a short pause between
    two digits, so a code is heard slowly."""
    said: list[str] = []
    for digit in code:
        if said:
            said.append(DIGIT_PAUSE)
        said.append(sound(f"digits/{digit}"))
    return said
