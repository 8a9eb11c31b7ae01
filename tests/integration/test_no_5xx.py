"""No client mistake is a 5xx: every field of every channel payload, replaced by each wrong kind
of value, gets a 4xx that names the field, and nothing is written."""
from __future__ import annotations

import json

import pytest
from chalice.test import Client

from tests.conftest import PARTNER_CHANNELS, channel_fixture
from tests.integration.helpers import signed_post

CHANNELS = PARTNER_CHANNELS
WRONG = [None, 12345, -1.5, True, [], {}, ["x"], {"a": 1}, "", "x" * 6000, "\u0000\ud800"[:1]]


def _kind(value) -> str:
    """A JSON value's kind (ints and floats are both numbers; true/false are not numbers)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


def _may_accept(model, name: str, value, good) -> bool:
    """A wrong-looking value a channel may take: nothing, for an optional field, or a value of the
    field's own JSON kind (True for a yes/no field, an empty list of photos, a negative number)."""
    field = next((f for n, f in model.model_fields.items() if (f.alias or n) == name), None)
    optional = field is not None and not field.is_required()
    if value is None or value == "" or value == [] or value == {}:
        return optional or (_kind(value) == _kind(good) and value != "")
    return _kind(value) == _kind(good) and not (isinstance(value, str) and len(value) > 4000)


@pytest.mark.parametrize("channel", CHANNELS)
def test_every_wrong_value_of_every_field_is_a_4xx_naming_it(aws, channel):
    import app

    import random

    from chalicelib.channels.registry import payload_model
    from infra.samples import sample_payload

    model = payload_model(channel)
    fields = list(channel_fixture(channel))
    seq = iter(range(10_000, 20_000))
    rng = random.Random(3)
    with Client(app.app) as client:
        def count(kind):
            return [i["kind"]["S"] for i in aws.table_items()].count(kind)

        appeals_before, tickets_before = count("appeal"), count("ticket")
        rejected, accepted = 0, []
        for name in fields:
            for value in WRONG:
                # A fresh valid payload (its own ticket id) with one field made wrong.
                payload = sample_payload(channel, rng, "路灯坏了一周，晚上很黑。", "南山区粤海街道科苑路", "投诉", next(seq))
                if name not in payload:
                    payload = dict(payload, **{k: v for k, v in channel_fixture(channel).items() if k == name})
                bad = dict(payload, **{name: value})
                if bad == payload:
                    continue
                resp = signed_post(client, aws.creds, channel, bad)
                if resp.status_code == 201:
                    assert _may_accept(model, name, value, payload[name]), (channel, name, value)
                    accepted.append((name, value))
                    continue
                assert 400 <= resp.status_code < 500, (channel, name, value, resp.body[:200])
                rejected += 1
                err = json.loads(resp.body)["error"]
                assert err["field"] and (err["field"].split(".")[0] == name or err["field"] == "body"), \
                    (channel, name, value, err)
        assert rejected >= 3 * len(fields)  # most wrong values of most fields were refused
        # Each accepted request wrote one appeal and one ticket; a refused one wrote nothing.
        assert (count("appeal"), count("ticket")) == (appeals_before + len(accepted), tickets_before + len(accepted))
