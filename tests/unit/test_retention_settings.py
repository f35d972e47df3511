"""CALLVERIFY_RETENTION_DAYS: a whole number of days Redis can expire after,
and long enough for a delivery to be given up before its record expires."""
from __future__ import annotations

import pytest

from engine.settings import SettingsError, load_settings


@pytest.mark.parametrize("days", ["0", "3651", "1.5"])
def test_retention_days_out_of_range_are_refused(days):
    with pytest.raises(SettingsError, match=f"CALLVERIFY_RETENTION_DAYS={days}: must be a whole "
                                            "number of days from 1 to 3650"):
        load_settings({"CALLVERIFY_RETENTION_DAYS": days})


def test_a_delivery_must_be_given_up_before_its_record_expires():
    with pytest.raises(SettingsError, match=r"CALLVERIFY_DELIVERY_GIVE_UP_SECONDS=86400: must be less "
                                            r"than the retention time \(CALLVERIFY_RETENTION_DAYS=1: "
                                            r"86400 s\)"):
        load_settings({"CALLVERIFY_RETENTION_DAYS": "1",
                       "CALLVERIFY_DELIVERY_GIVE_UP_SECONDS": "86400"})
    settings = load_settings({"CALLVERIFY_RETENTION_DAYS": "1",
                              "CALLVERIFY_DELIVERY_GIVE_UP_SECONDS": "86399"})
    assert settings.retention_days == 1
