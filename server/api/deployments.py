"""Deployments: create (cameras, watchlist, window, threshold, radius), start, stop, stats."""

from __future__ import annotations

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody
from sqlalchemy import select

from server.api.deps import PrincipalDep, RuntimeDep
from server.api.schemas import DeploymentCreate
from server.auth import new_id, roles
from server.errors import NotFound, VigilError
from server.recognition.calibration import UncalibratedModel
from server.recognition.calibration import default_threshold as calibrated_default
from server.runtime import Runtime
from server.services import governance
from server.services.thresholds import check_threshold, watchlist_policy
from server.store.models import Camera, Deployment, DeploymentCamera, Watchlist
from server.store.views import deployment_stats, deployment_view, deployment_views
from shared.protocol.alerts import DeploymentStats, DeploymentView

FALLBACK_THRESHOLDS = {"dlib-resnet-v1": 0.92}
"""Used only for a model ``server.recognition.calibration`` has no calibration for. dlib's
own rule of thumb (Euclidean distance 0.6, cosine 0.82) is a 1:1 setting; a 1:N watchlist
search needs a stricter one, so its fallback is distance 0.4 (cosine 0.92)."""

READERS = roles("admin", "authoriser", "dispatcher", "auditor")


def default_threshold(runtime: Runtime) -> float:
    """The deployment threshold when none is given: setting, else calibrated default."""
    if runtime.settings.threshold > 0:
        return runtime.settings.threshold
    model_id = runtime.engine.model_id
    try:
        return float(calibrated_default(model_id))
    except UncalibratedModel:
        return FALLBACK_THRESHOLDS.get(model_id, 0.9)


class DeploymentController(Controller):
    path = "/api/deployments"
    tags = ("deployments",)

    @post("/", operation_id="createDeployment", guards=[roles("admin", "authoriser")])
    async def create(self, rt: RuntimeDep, data: JSONBody[DeploymentCreate],
                     principal: PrincipalDep) -> DeploymentView:
        """Create a deployment (inactive until started)."""
        now = rt.clock()
        if data.ends_at <= data.starts_at:
            raise VigilError("bad_window", "ends_at must be after starts_at")
        if not (-90 <= data.lat <= 90 and -180 <= data.lon <= 180):
            raise VigilError("bad_position", "lat/lon out of range")
        if data.notify_radius_m <= 0 or not data.camera_ids:
            raise VigilError("bad_deployment", "needs cameras and a positive notify radius")
        threshold = data.threshold if data.threshold is not None else default_threshold(rt)
        if not 0.0 < threshold <= 1.0:
            raise VigilError("bad_threshold", "threshold must be in (0, 1]")
        if data.threshold is None:  # the default never undercuts the floor for this list size
            policy = await watchlist_policy(rt, data.watchlist_id, default_threshold(rt))
            if rt.settings.threshold <= 0:  # calibrated to the watchlist size (issue 12.3)
                threshold = max(threshold, policy.operating)
            threshold = max(threshold, policy.floor)
        else:  # under the floor: authorisers only (the refused attempt is audited)
            policy = await check_threshold(rt, principal, threshold=threshold,
                                           watchlist_id=data.watchlist_id,
                                           fallback_default=default_threshold(rt))
        dep = Deployment(
            id=new_id("dep"), name=data.name, purpose=data.purpose, place=data.place,
            lat=data.lat, lon=data.lon, watchlist_id=data.watchlist_id, threshold=threshold,
            notify_radius_m=data.notify_radius_m, starts_at=data.starts_at,
            ends_at=data.ends_at, active=False, created_by=principal.account_id,
            created_at=now, faces_processed=0, frames_processed=0, frames_refused=0,
        )
        async with rt.write_lock, rt.db.sessions() as session, session.begin():
            if await session.get(Watchlist, data.watchlist_id) is None:
                raise NotFound("no such watchlist")
            for cam in data.camera_ids:
                if await session.get(Camera, cam) is None:
                    raise NotFound(f"no such camera: {cam}")
            session.add(dep)
            await session.flush()
            for cam in dict.fromkeys(data.camera_ids):
                session.add(DeploymentCamera(deployment_id=dep.id, camera_id=cam))
            await rt.audit.record(session, actor=principal.account_id,
                                  action="deployment_created", at=now, deployment_id=dep.id,
                                  watchlist_id=dep.watchlist_id, threshold=threshold,
                                  floor=policy.floor, below_floor=threshold < policy.floor)
            view = await deployment_view(session, dep)
        # Created inactive, so no camera's frames change yet; kept for the rule that every
        # governance change refreshes the frame path's view of deployments.
        rt.frame_targets.invalidate()
        return view

    @get("/", operation_id="listDeployments", guards=[READERS])
    async def list_deployments(self, rt: RuntimeDep) -> list[DeploymentView]:
        """Every deployment."""
        async with rt.db.sessions() as session:
            deps = (await session.execute(select(Deployment))).scalars().all()
            return await deployment_views(session, deps)

    @post("/{deployment_id:str}/start", operation_id="startDeployment",
          guards=[roles("authoriser")], status_code=200)
    async def start(self, rt: RuntimeDep, deployment_id: FromPath[str],
                    principal: PrincipalDep) -> DeploymentView:
        """Activate: matching runs for its cameras inside its window."""
        return await governance.set_active(rt, deployment_id, True, principal)

    @post("/{deployment_id:str}/stop", operation_id="stopDeployment",
          guards=[roles("authoriser")], status_code=200)
    async def stop(self, rt: RuntimeDep, deployment_id: FromPath[str],
                   principal: PrincipalDep) -> DeploymentView:
        """Stop at once (kill switch): no frame is matched for it from now on."""
        return await governance.set_active(rt, deployment_id, False, principal)

    @get("/{deployment_id:str}/stats", operation_id="deploymentStats", guards=[READERS])
    async def stats(self, rt: RuntimeDep,
                    deployment_id: FromPath[str]) -> DeploymentStats:
        """Faces processed, alerts and outcomes: false alert rate and precision together."""
        await rt.frame_counts.flush()  # the figures include every frame answered so far
        async with rt.db.sessions() as session:
            dep = await session.get(Deployment, deployment_id)
            if dep is None:
                raise NotFound("no such deployment")
            return await deployment_stats(session, dep)
