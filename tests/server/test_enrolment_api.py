"""Enrolment over REST: refusals of the recognition core come back as 4xx with their code."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from server.recognition.image_io import encode_jpeg
from tests.server.conftest import Api, LiveServer, Photos, enrol, make_token
from tests.server.frames import insightface_image

pytestmark = pytest.mark.real_engine  # real faces are the point here


async def test_enrolment_refusals_and_listing(live: LiveServer, photos: Photos) -> None:
    _, wm_token = await make_token(live.settings, "watchlist_manager", "wm")
    wm = Api(live.http, wm_token)
    wl = await wm.call("POST", "/api/watchlists", 201, json={"name": "op"})
    blank = encode_jpeg(np.full((200, 200, 3), 128, dtype=np.uint8))
    crowd = insightface_image("t1.jpg").read_bytes()

    cases: list[tuple[bytes, dict[str, object], int, str]] = [
        (blank, {}, 422, "no_face"),
        (crowd, {}, 422, "multiple_faces"),
        (b"not an image", {}, 422, "undecodable_image"),
        (photos.subject, {"category": "intelligence"}, 400, "bad_category"),
        (photos.subject, {"expires_at": time.time() - 10}, 400, "expiry_in_past"),
        (photos.subject, {"justification": " "}, 400, "justification_required"),
        (photos.subject, {"minor": "true"}, 400, "minor_justification_required"),
    ]
    for photo, fields, status, code in cases:
        body = await enrol(wm, wl["id"], photo, "X", expect=status, **fields)
        assert body["code"] == code, (code, body)
    assert await wm.call("GET", f"/api/watchlists/{wl['id']}/entries") == []

    entry = await enrol(wm, wl["id"], photos.subject, "Subject A")
    assert entry["category"] == "wanted_serious_crime"
    assert entry["models"] == ["dlib-resnet-v1"]
    assert entry["background_faces"] == 0  # one face in the photo: nothing left out
    listed = await wm.call("GET", f"/api/watchlists/{wl['id']}/entries")
    assert [e["id"] for e in listed] == [entry["id"]]
    await wm.call("DELETE", f"/api/watchlists/{wl['id']}/entries/{entry['id']}", 204)
    assert await wm.call("GET", f"/api/watchlists/{wl['id']}/entries") == []
    await wm.call("DELETE", f"/api/watchlists/{wl['id']}/entries/{entry['id']}", 404)
    # OpenAPI is served.
    schema = json.loads(await wm.call("GET", "/schema/openapi.json"))
    assert "/api/watchlists/{watchlist_id}/entries" in schema["paths"]
    await wm.close()
