"""Threshold governance: under the calibrated floor only an authoriser may set a threshold;
the refused attempt and the accepted one are both audited."""

from __future__ import annotations

import math
import sys
import types

import pytest

from server.domain.thresholds import policy_for
from tests.governance.conftest import audit_entries, count_rows
from tests.governance.helpers import new_deployment, runtime_of
from tests.server.conftest import LiveServer, Photos, build_world


async def test_below_floor_needs_an_authoriser(gov_live: LiveServer, photos: Photos) -> None:
    world = await build_world(gov_live, photos, start=False)
    rt = runtime_of(world)
    admin, auth = world.api["admin"], world.api["authoriser"]
    policy = await admin.call("GET", f"/api/thresholds?watchlist_id={world.watchlist_id}")
    assert policy["watchlist_size"] == 1
    floor = policy["floor"]
    low, high = round(floor - 0.05, 3), round(min(1.0, floor + 0.01), 3)

    async with rt.db.sessions() as session:
        deployments_before = await count_rows(session, "deployments")
    refused = await new_deployment(world, threshold=low, api="admin", expect=403)
    assert refused["code"] == "threshold_below_floor"
    async with rt.db.sessions() as session:
        assert await count_rows(session, "deployments") == deployments_before
    [attempt] = await audit_entries(rt, "threshold_refused")
    assert attempt.actor == world.ids["admin"]
    assert attempt.details["threshold"] == low
    assert attempt.details["floor"] == floor

    created = await new_deployment(world, threshold=low, api="authoriser")
    assert created["threshold"] == low
    record = [e for e in await audit_entries(rt, "deployment_created")
              if e.object_ids["deployment_id"] == created["id"]]
    assert record[0].details["below_floor"] is True
    assert record[0].actor == world.ids["authoriser"]

    # Changing the threshold of an existing deployment follows the same rule.
    dep = world.deployment_id
    again = await admin.call("POST", f"/api/deployments/{dep}/threshold", 403,
                             json={"threshold": low})
    assert again["code"] == "threshold_below_floor"
    assert len(await audit_entries(rt, "threshold_refused")) == 2
    view = await admin.call("POST", f"/api/deployments/{dep}/threshold",
                            json={"threshold": high})
    assert view["threshold"] == high
    view = await auth.call("POST", f"/api/deployments/{dep}/threshold",
                           json={"threshold": low})
    assert view["threshold"] == low
    changes = await audit_entries(rt, "threshold_changed")
    assert [(c.actor, c.details["threshold"], c.details["below_floor"]) for c in changes] == [
        (world.ids["admin"], high, False), (world.ids["authoriser"], low, True)]
    bad = await auth.call("POST", f"/api/deployments/{dep}/threshold", 400,
                          json={"threshold": 1.5})
    assert bad["code"] == "bad_threshold"


def test_floor_follows_the_calibration_and_the_watchlist_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = types.ModuleType("server.recognition.calibration")

    def default_threshold(model_id: str) -> float:
        return {"m": 0.6}[model_id]

    def floor_for(model_id: str, size: int) -> float:
        return {"m": 0.5}[model_id] + 0.02 * math.log10(size)

    fake.default_threshold = default_threshold  # type: ignore[attr-defined]
    fake.floor_for = floor_for  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "server.recognition.calibration", fake)
    small, large = policy_for("m", 10, 0.9), policy_for("m", 10_000, 0.9)
    assert small.calibrated
    assert small.default == 0.6
    assert small.floor == pytest.approx(0.52)
    assert large.floor == pytest.approx(0.58)
    unknown = policy_for("other-model", 10, 0.9)  # no calibration for it: floor = default
    assert (unknown.calibrated, unknown.default, unknown.floor) == (False, 0.9, 0.9)
