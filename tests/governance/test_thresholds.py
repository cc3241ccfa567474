"""Threshold governance: under the calibrated floor only an authoriser may set a threshold;
the refused attempt and the accepted one are both audited."""

from __future__ import annotations

import pytest

from server.domain import thresholds
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


def test_floor_follows_the_calibration_and_the_watchlist_size() -> None:
    from server.recognition import calibration

    model = "dlib-resnet-v1"
    small, large = policy_for(model, 10, 0.5), policy_for(model, 10_000, 0.5)
    assert small.calibrated
    assert small.default == calibration.default_threshold(model)
    assert small.floor == calibration.floor_for(model, 10)
    assert large.floor == calibration.floor_for(model, 10_000)
    assert small.floor < large.floor  # more entries, more chances of a false match
    unknown = policy_for("no-such-model", 10, 0.9)  # uncalibrated: floor = default
    assert (unknown.calibrated, unknown.default, unknown.floor) == (False, 0.9, 0.9)


async def test_default_never_undercuts_the_floor(gov_live: LiveServer, photos: Photos,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # As with a very large watchlist: the floor sits above the model's default. A deployment
    # created without a threshold gets the floor, neither a refusal nor the lower default.
    monkeypatch.setattr(thresholds, "floor_for", lambda model_id, size: 0.97)
    world = await build_world(gov_live, photos, start=False)
    policy = await world.api["admin"].call(
        "GET", f"/api/thresholds?watchlist_id={world.watchlist_id}")
    assert policy["floor"] == 0.97
    assert policy["default"] < 0.97
    created = await new_deployment(world, api="admin")
    assert created["threshold"] == 0.97


async def test_default_is_calibrated_to_the_watchlist_size(gov_live: LiveServer,
                                                           photos: Photos) -> None:
    # No threshold given: the deployment gets the operating threshold for its watchlist's
    # size (one false alert in 100,000 non-matching faces), which sits at or above the floor.
    from server.recognition import calibration

    world = await build_world(gov_live, photos, start=False)
    policy = await world.api["admin"].call(
        "GET", f"/api/thresholds?watchlist_id={world.watchlist_id}")
    model, size = policy["model_id"], policy["watchlist_size"]
    assert policy["operating"] == pytest.approx(calibration.operating_threshold(model, size))
    assert policy["operating"] >= policy["floor"]
    assert calibration.operating_threshold(model, 1000) > policy["operating"]
    created = await new_deployment(world, api="admin")
    assert created["threshold"] == pytest.approx(max(policy["default"], policy["operating"]))
