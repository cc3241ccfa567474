"""Accounts and tokens, cameras and officers registry."""

from __future__ import annotations

import re

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody
from sqlalchemy import select

from server.api.deps import PrincipalDep, RuntimeDep
from server.api.schemas import (
    AccountCreate,
    AccountCreated,
    AccountOut,
    CameraBind,
    CameraCreate,
)
from server.auth import create_account, new_id, roles
from server.errors import Conflict, NotFound, VigilError
from server.store.models import Account, Camera, Officer
from server.store.views import camera_view, officer_view
from shared.protocol.alerts import CameraView, OfficerView

CAMERA_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")

class AccountController(Controller):
    path = "/api/accounts"
    tags = ("accounts",)
    guards = (roles("admin"),)

    @post("/", operation_id="createAccount")
    async def create(self, rt: RuntimeDep, data: JSONBody[AccountCreate],
                     principal: PrincipalDep) -> AccountCreated:
        """Create an account of one role and return its token (shown this once only).

        An ``expires_at`` that has already passed is refused (``expiry_in_past``): the token
        would be dead on arrival.
        """
        now = rt.clock()
        if data.expires_at is not None and data.expires_at <= now:
            raise VigilError("expiry_in_past", "expires_at must be in the future")
        async with rt.write_lock, rt.db.sessions() as session, session.begin():
            account, token = await create_account(
                session, role=data.role, name=data.name, now=now, expires_at=data.expires_at,
                call_sign=data.call_sign,
            )
            await rt.audit.record(session, actor=principal.account_id, action="token_issued",
                                  at=now, account_id=account.id, role=data.role)
        return AccountCreated(account_id=account.id, role=data.role, name=data.name,
                              token=token)

    @get("/", operation_id="listAccounts")
    async def list_accounts(self, rt: RuntimeDep) -> list[AccountOut]:
        """Every account (never a token or its hash)."""
        async with rt.db.sessions() as session:
            rows = (await session.execute(select(Account).order_by(Account.created_at))).scalars()
            return [AccountOut(id=a.id, role=a.role, name=a.name,
                               created_at=a.created_at, expires_at=a.expires_at,
                               revoked=a.revoked) for a in rows]

    @post("/{account_id:str}/revoke", operation_id="revokeAccount", status_code=200)
    async def revoke(self, rt: RuntimeDep, account_id: FromPath[str],
                     principal: PrincipalDep) -> AccountOut:
        """Revoke an account's token at once.

        An administrator cannot revoke its own account (``cannot_revoke_self``, 409): the
        caller is always a valid administrator, so this also means the last administrator
        can never be revoked, which would lock every operator out of account management
        until someone ran ``vigil token create`` on the server.
        """
        now = rt.clock()
        if account_id == principal.account_id:
            raise VigilError("cannot_revoke_self", "an administrator cannot revoke itself; "
                             "another administrator must do it", status=409)
        async with rt.write_lock, rt.db.sessions() as session, session.begin():
            a = await session.get(Account, account_id)
            if a is None:
                raise NotFound("no such account")
            a.revoked = True
            officer = await session.get(Officer, account_id)
            if officer is not None:
                # Off duty as well, so no list of "available" officers offers it meanwhile.
                officer.status = "off_duty"
            await rt.audit.record(session, actor=principal.account_id, action="token_revoked",
                                  at=now, account_id=a.id)
            out = AccountOut(id=a.id, role=a.role, name=a.name,
                             created_at=a.created_at, expires_at=a.expires_at, revoked=True)
        # After the commit: a revoked token must not keep an open socket (officer, dispatcher
        # or camera) that still receives alerts or sends frames.
        rt.publisher.close_account(account_id, "this account was revoked")
        return out


class CameraController(Controller):
    path = "/api/cameras"
    tags = ("cameras",)

    @post("/", operation_id="createCamera", guards=[roles("admin")])
    async def create(self, rt: RuntimeDep, data: JSONBody[CameraCreate],
                     principal: PrincipalDep) -> CameraView:
        """Register a camera (fixed position, or mobile: it reports its own)."""
        cam_id = data.id or new_id("cam")
        if not CAMERA_ID.match(cam_id):
            raise VigilError("bad_camera_id", "camera ids use letters, digits, - and _")
        async with rt.write_lock, rt.db.sessions() as session, session.begin():
            if await session.get(Camera, cam_id) is not None:
                raise Conflict("camera id already registered")
            if data.account_id is not None:
                acc = await session.get(Account, data.account_id)
                if acc is None or acc.role != "camera":
                    raise VigilError("bad_account", "account_id must be a camera account")
            cam = Camera(id=cam_id, name=data.name, description=data.description,
                         lat=data.lat, lon=data.lon, mobile=data.mobile,
                         account_id=data.account_id, frames_no_deployment=0,
                         min_face_px=data.min_face_px)
            session.add(cam)
            await rt.audit.record(session, actor=principal.account_id,
                                  action="camera_registered", at=rt.clock(), camera_id=cam_id)
        rt.frame_targets.invalidate()  # a new camera: its frames are looked up afresh
        return camera_view(cam)

    @post("/{camera_id:str}/bind", operation_id="bindCamera", guards=[roles("admin")],
          status_code=200)
    async def bind(self, rt: RuntimeDep, camera_id: FromPath[str], data: JSONBody[CameraBind],
                   principal: PrincipalDep) -> CameraView:
        """Bind a registered camera to the camera account whose token may stream for it.

        A camera without a bound account accepts no camera token at all (fail closed).
        """
        async with rt.write_lock, rt.db.sessions() as session, session.begin():
            cam = await session.get(Camera, camera_id)
            if cam is None:
                raise NotFound("no such camera")
            acc = await session.get(Account, data.account_id)
            if acc is None or acc.role != "camera":
                raise VigilError("bad_account", "account_id must be a camera account")
            cam.account_id = acc.id
            await rt.audit.record(session, actor=principal.account_id, action="camera_bound",
                                  at=rt.clock(), camera_id=cam.id, account_id=acc.id)
        # A stream already open for this camera under another account stops now.
        rt.publisher.close_camera(camera_id, unless_account=acc.id,
                                  message="camera bound to another account")
        return camera_view(cam)

    @get("/", operation_id="listCameras",
         guards=[roles("admin", "authoriser", "dispatcher", "auditor")])
    async def list_cameras(self, rt: RuntimeDep) -> list[CameraView]:
        """Registered cameras."""
        async with rt.db.sessions() as session:
            return [camera_view(c) for c in (await session.execute(select(Camera))).scalars()]


class OfficerController(Controller):
    path = "/api/officers"
    tags = ("officers",)

    @get("/", operation_id="listOfficers", guards=[roles("admin", "dispatcher")])
    async def list_officers(self, rt: RuntimeDep) -> list[OfficerView]:
        """Officers with their last position, status and connection."""
        async with rt.db.sessions() as session:
            rows = (await session.execute(select(Officer))).scalars()
            return [officer_view(o, rt.publisher.connected(o.id)) for o in rows]
