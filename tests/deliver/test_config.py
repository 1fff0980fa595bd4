"""The destinations file: the example is valid and delivers every organization; mistakes are refused by name."""

from __future__ import annotations

import pytest

from eventpipe.deliver.config import DestinationConfigError, load_destinations, parse_destinations


def for_organization(destinations, organization_id):
    """The destinations that deliver ``organization_id``'s events, as deliver_interval chooses them."""
    return [d for d in destinations if d.enabled and d.applies_to(organization_id)]


def test_the_example_file_is_valid_and_its_wildcard_covers_any_organization():
    destinations = load_destinations()
    assert {d.type for d in destinations} == {"s3", "splunk_hec", "heap", "ga4"}
    assert all(d.organizations == ("*",) for d in destinations)
    assert len(for_organization(destinations, "any-org-id")) == len(destinations)
    s3 = next(d for d in destinations if d.type == "s3")
    assert s3.kinds == ("Session", "Audit")
    assert next(d for d in destinations if d.type == "splunk_hec").kinds == ("Session",)


def test_entries_for_named_organizations_apply_only_to_them():
    destinations = parse_destinations(
        {
            "destinations": {
                "acme_heap": {"type": "heap", "organizations": ["org-a"], "connection_id": "heap_acme", "app_id": "1"},
                "off": {"type": "heap", "organizations": ["*"], "connection_id": "h", "app_id": "2", "enabled": False},
            }
        }
    )
    assert [d.name for d in for_organization(destinations, "org-a")] == ["acme_heap"]
    assert for_organization(destinations, "org-b") == []


S3 = {"type": "s3", "organizations": ["*"], "connection_id": "aws_customer", "bucket": "customer-events"}


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({**S3, "aws_secret_access_key": "x"}, "look like credentials"),
        ({"type": "splunk_hec", "organizations": ["*"], "connection_id": "h", "token": "t"}, "look like credentials"),
        ({**S3, "buckt": "typo"}, "unknown keys"),
        ({**S3, "bucket": "Not_A_Bucket"}, "not a valid S3 bucket name"),
        ({**S3, "kinds": ["Platform"]}, "kinds must be"),
        ({**S3, "prefix": "x/{org}"}, "placeholder"),
        ({**S3, "organizations": []}, "organizations"),
        ({key: value for key, value in S3.items() if key != "connection_id"}, "connection_id"),
        ({**S3, "type": "ftp"}, "type must be one of"),
        ({**S3, "max_part_events": 0}, "max_part_events"),
        ({"type": "ga4", "organizations": ["*"], "connection_id": "g", "measurement_id": "UA-1"}, "G-XXXXXXXXXX"),
        ({"type": "heap", "organizations": ["*"], "connection_id": "h"}, "app_id is required"),
    ],
)
def test_invalid_entries_are_refused_with_the_reason(entry, message):
    with pytest.raises(DestinationConfigError, match=message):
        parse_destinations({"destinations": {"customer": entry}})


def test_a_missing_file_says_which(tmp_path):
    with pytest.raises(DestinationConfigError, match="cannot be read"):
        load_destinations(tmp_path / "nope.yml")
