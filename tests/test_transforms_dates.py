"""The date and datetime transforms: the sources' ISO 8601 moments, other forms,
and day-first reading."""
from __future__ import annotations

import pytest

from flitstack_connectors.mapping.transforms import TRANSFORMS, TransformError


@pytest.mark.parametrize("text, moment", [
    ("2024-01-02T03:04:05Z", "2024-01-02 03:04:05"),
    ("2024-01-02T03:04:05+01:00", "2024-01-02 02:04:05"),
    ("2024-01-02T03:04:05.123-05:00", "2024-01-02 08:04:05"),
    ("2024-01-02 03:04:05", "2024-01-02 03:04:05"),
    ("2024-01-02", "2024-01-02 00:00:00"),
    ("Jan 2 2024 3:04 AM", "2024-01-02 03:04:00"),
    ("02/01/2024", "2024-02-01 00:00:00"),
])
def test_datetimes_land_as_naive_utc(text, moment):
    assert TRANSFORMS["datetime"](text) == moment


def test_a_moment_without_offset_is_read_in_the_given_zone():
    assert TRANSFORMS["datetime"]("2024-07-01T12:00:00", tz="Europe/Amsterdam") == "2024-07-01 10:00:00"


@pytest.mark.parametrize("text, day, dayfirst", [
    ("2024-01-02T03:04:05Z", "2024-01-02", False),
    ("2024-01-02", "2024-01-02", False),
    ("02/01/2024", "2024-02-01", False),
    ("02/01/2024", "2024-01-02", True),
    # day first is the map's choice for every value of the field, ISO ones included
    ("2024-01-02", "2024-02-01", True),
])
def test_dates(text, day, dayfirst):
    assert TRANSFORMS["date"](text, dayfirst=dayfirst) == day


@pytest.mark.parametrize("text", ["2024-13-45", "not a date", "2024-02-30T00:00:00Z"])
def test_a_value_that_is_no_date_is_an_error_without_the_value(text):
    with pytest.raises(TransformError) as caught:
        TRANSFORMS["datetime"](text)
    assert text not in str(caught.value)
