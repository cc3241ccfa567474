"""Alerts: list/filter/get, probe crop and reference photo, assignment suggestion.

Officers see only the alerts routed to them (nearby or assigned), here as on their socket.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import File
from sqlalchemy import Select, select

from server.api.deps import PrincipalDep, RuntimeDep
from server.api.schemas import Suggestion
from server.auth import Principal, roles
from server.errors import NotFound
from server.runtime import Runtime
from server.services.alerts import AlertService
from server.store.models import Alert, AlertRecipient, Entry, Officer
from server.store.views import alert_view, alert_views
from shared.protocol.alerts import AlertView
from shared.protocol.base import AlertState

VIEWERS = roles("dispatcher", "officer")
"""Alert cards (names, reasons, places) are for the people acting on an alert. Auditors get
statistics, transparency records and the audit trail only (least privilege: oversight needs
counts and who did what, not who was seen where; docs/operations.md, role table)."""
IMAGE_VIEWERS = roles("dispatcher", "officer")
"""Faces (probe crops, reference photos): the same people, never auditors."""


async def _visible(rt: Runtime, principal: Principal, alert_id: str) -> Alert:
    async with rt.db.sessions() as session:
        alert = await session.get(Alert, alert_id)
        if alert is None:
            raise NotFound("no such alert")
        if principal.role == "officer" and await session.get(
            AlertRecipient, (alert_id, principal.account_id)
        ) is None:
            raise NotFound("no such alert")  # not routed to this officer: not even its id
        return alert


class AlertController(Controller):
    path = "/api/alerts"
    tags = ("alerts",)
    guards = (VIEWERS,)

    @get("/", operation_id="listAlerts")
    async def list_alerts(
        self, rt: RuntimeDep, principal: PrincipalDep,
        alert_state: Annotated[AlertState | None, QueryParameter(name="state")] = None,
        deployment_id: Annotated[str | None, QueryParameter(max_length=64)] = None,
        camera_id: Annotated[str | None, QueryParameter(max_length=64)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 200,
    ) -> list[AlertView]:
        """Alerts, newest first, filtered by state, deployment or camera (at most ``limit``,
        1 to 1,000). An unknown state or a limit out of range is a 400, not an empty list."""
        query: Select[Any] = select(Alert).order_by(Alert.first_seen.desc())
        if principal.role == "officer":
            query = query.join(AlertRecipient, AlertRecipient.alert_id == Alert.id).where(
                AlertRecipient.account_id == principal.account_id)
        if alert_state:
            query = query.where(Alert.state == alert_state)
        if deployment_id:
            query = query.where(Alert.deployment_id == deployment_id)
        if camera_id:
            query = query.where(Alert.camera_id == camera_id)
        query = query.limit(limit)
        async with rt.db.sessions() as session:
            rows = (await session.execute(query)).scalars().all()
            return await alert_views(session, rows)

    @get("/{alert_id:str}", operation_id="getAlert")
    async def get_alert(self, rt: RuntimeDep, alert_id: FromPath[str],
                        principal: PrincipalDep) -> AlertView:
        """One alert card."""
        alert = await _visible(rt, principal, alert_id)
        async with rt.db.sessions() as session:
            return await alert_view(session, alert)

    @get("/{alert_id:str}/probe", operation_id="getProbe", media_type="image/jpeg",
         guards=[IMAGE_VIEWERS])
    async def probe(self, rt: RuntimeDep, alert_id: FromPath[str],
                    principal: PrincipalDep) -> File:
        """The probe crop (other faces blurred)."""
        alert = await _visible(rt, principal, alert_id)
        return _file(rt.settings.data_path, alert.probe_path, "image/jpeg")

    @get("/{alert_id:str}/reference", operation_id="getReference", guards=[IMAGE_VIEWERS])
    async def reference(self, rt: RuntimeDep, alert_id: FromPath[str],
                        principal: PrincipalDep) -> File:
        """The watchlist entry's reference photo."""
        alert = await _visible(rt, principal, alert_id)
        async with rt.db.sessions() as session:
            entry = await session.get(Entry, alert.entry_id)
        if entry is None:
            raise NotFound("the entry was removed")
        return _file(rt.settings.data_path, entry.photo_path, "application/octet-stream")

    @get("/{alert_id:str}/suggestion", operation_id="suggestOfficer",
         guards=[roles("dispatcher")])
    async def suggestion(self, rt: RuntimeDep, alerts: NamedDependency[AlertService],
                         alert_id: FromPath[str]) -> Suggestion:
        """The nearest available officer to the alert's camera."""
        best = await alerts.suggest(alert_id)
        if best is None:
            return Suggestion(officer_id=None)
        async with rt.db.sessions() as session:
            officer = await session.get(Officer, best.officer_id)
        return Suggestion(officer_id=best.officer_id,
                          call_sign=officer.call_sign if officer else None,
                          distance_m=best.distance_m)


def _file(root: Path, rel: str, media_type: str) -> File:
    path = root / rel
    if not rel or not path.is_file():
        raise NotFound("image not available")
    return File(path=path, media_type=media_type, content_disposition_type="inline")
