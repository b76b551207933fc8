"""The one Pabulib reader (agora.pabulib): a 128 KB field was a `_csv.Error` and a 500; now it is a PabulibError
naming the line."""
import pytest

from agora import pabulib


def test_an_oversized_field_is_a_format_error_with_its_line():
    import csv
    previous = csv.field_size_limit(131072)     # the csv module's default (other tests raise it process-wide)
    text = ("META\nkey;value\ndescription;" + "x" * 140_000 + "\nnum_projects;1\nnum_votes;0\nbudget;10\n"
            "PROJECTS\nproject_id;cost\np1;5\nVOTES\nvoter_id;vote\n")
    try:
        with pytest.raises(pabulib.PabulibError) as err:
            pabulib.parse(text)
    finally:
        csv.field_size_limit(previous)
    assert err.value.line == 3 and "field" in err.value.reason
