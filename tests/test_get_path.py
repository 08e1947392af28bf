"""Paths into a source record: keys, indexes and list selectors, with and without the
per-record index of the lists that selectors scan."""
import pytest

from flitstack_connectors.mapping.apply import get_path

DATA = {
    "client": {"id": 7, "name": "Acme"},
    "phone_numbers": [{"name": "Work", "number": "1", "default_number": False},
                      {"name": "Home", "number": "2", "default_number": True},
                      {"name": "Home", "number": "3", "default_number": False}],
    "custom_field_values": [{"field": {"id": 11}, "value": "a"}, "not a dict", {"field": {"id": 12}, "value": None},
                            {"field": {"id": 11}, "value": "second"}],
    "tags": ["x", "y"],
}

CASES = [
    ("client.id", 7),
    ("client.missing", None),
    ("client.id.deeper", None),
    ("missing.id", None),
    ("tags[1]", "y"),
    ("tags[5]", None),
    ("tags[x]", None),
    ("phone_numbers[name=Home].number", "2"),  # the first match
    ("phone_numbers[default_number=True].number", "2"),
    ("phone_numbers[name=Fax].number", None),
    ("custom_field_values[field.id=11].value", "a"),
    ("custom_field_values[field.id=12].value", None),
    ("custom_field_values[field.id=13].value", None),
    ("client[name=Acme]", None),  # a selector on a mapping, not a list
]


@pytest.mark.parametrize("path,want", CASES)
def test_paths_without_and_with_the_record_index(path, want):
    memo = {}
    assert get_path(DATA, path) == want
    assert get_path(DATA, path, memo) == want
    # asked again through the filled index: the same answer
    assert get_path(DATA, path, memo) == want


def test_the_index_is_per_list_not_per_path():
    """Within one record, two lists scanned by the same selector are indexed apart."""
    memo = {}
    one = {"a": [{"k": 1, "v": "one"}], "b": [{"k": 1, "v": "bee"}]}
    assert get_path(one, "a[k=1].v", memo) == "one"
    assert get_path(one, "b[k=1].v", memo) == "bee"
    assert len(memo) == 2
