"""engine/project_redis.py: without CALLVERIFY_REDIS_URL, the settings take
the URL `make run`'s own Redis left in CALLVERIFY_REDIS_DIR/url."""
from __future__ import annotations

import pytest

from engine.settings import Settings, SettingsError, read_settings

OWN = "redis://:0123abcd@127.0.0.1:6390/0"


@pytest.fixture
def redis_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("CALLVERIFY_REDIS_DIR", str(tmp_path))
    monkeypatch.setenv("CALLVERIFY_SANDBOX_DIR", str(tmp_path / "no-sandbox"))
    return tmp_path


def test_the_url_file_is_read_when_no_url_is_set(redis_dir):
    (redis_dir / "url").write_text(OWN + "\n")
    settings, warnings = read_settings({})
    assert settings.redis_url == OWN and warnings == []
    assert "0123abcd" not in repr(settings)


def test_a_url_set_wins_over_the_file(redis_dir):
    (redis_dir / "url").write_text(OWN)
    assert read_settings({"CALLVERIFY_REDIS_URL": "redis://10.0.0.1:6379/0"})[0].redis_url \
        == "redis://10.0.0.1:6379/0"
    assert read_settings({}, redis_url="redis://10.0.0.2:6379/0")[0].redis_url \
        == "redis://10.0.0.2:6379/0"


def test_without_the_file_the_default_stands(redis_dir):
    settings, warnings = read_settings({})
    assert settings.redis_url == Settings.redis_url and warnings == []


def test_a_file_that_cannot_be_read_is_a_warning(redis_dir):
    (redis_dir / "url").mkdir()  # reading it fails as a permission problem would
    settings, warnings = read_settings({})
    assert settings.redis_url == Settings.redis_url
    assert warnings == [f"{redis_dir / 'url'} (the URL of make run's Redis) cannot be read "
                        "(IsADirectoryError): set CALLVERIFY_REDIS_URL, or run as its owner"]


def test_a_bad_url_in_the_file_is_named_with_the_file(redis_dir):
    (redis_dir / "url").write_text("http://:secret@127.0.0.1:6379/0")
    with pytest.raises(SettingsError) as refused:
        read_settings({})
    message = str(refused.value)
    assert message.startswith("CALLVERIFY_REDIS_URL=") and f"(from {redis_dir / 'url'})" in message
    assert "secret" not in message
