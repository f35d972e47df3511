"""The README stays a user's document: the two commands first, under 350 lines."""
from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_opens_with_the_two_commands_and_stays_short():
    lines = README.read_text().splitlines()
    assert len(lines) < 350
    first_block = "\n".join(lines[:12])
    assert "make run" in first_block and "make test" in first_block


def test_every_document_the_readme_links_exists():
    text = README.read_text()
    for name in ("docs/seed-apis.md", "docs/v1.md", "docs/v1-lifecycle.md", "docs/api.md",
                 "docs/metrics.md", "docs/voice-and-locales.md", "docs/test-numbers.md",
                 "docs/softphones.md", "docs/containers.md", "docs/own-asterisk.md",
                 "docs/operations.md", "docs/security.md", "docs/benchmark.md"):
        assert f"({name})" in text, name
        assert (README.parent / name).is_file(), name
