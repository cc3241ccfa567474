"""Governance over REST: deployment authorisation, thresholds, transparency, audit.

Authorisers authorise, confirm, refuse and revoke; auditors read and verify the audit log.
Every change here is audited in the transaction that makes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Literal

import msgspec
from litestar import Controller, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Stream

from server.api.deployments import default_threshold
from server.api.deps import PrincipalDep, RuntimeDep
from server.auth import roles
from server.domain.thresholds import ThresholdPolicy
from server.domain.transparency import TransparencyRecord, to_markdown
from server.errors import NotFound, VigilError
from server.runtime import Runtime
from server.services import governance
from server.services.thresholds import check_threshold, watchlist_policy
from server.services.thresholds import set_threshold as change_threshold
from server.services.transparency import transparency_record
from server.store.audit import AuditEntry, VerifyReport, export_lines, iter_records, to_entry
from server.store.audit import verify as verify_chain
from server.store.authorisation import DeploymentAuthorisation
from server.store.models import Deployment, Watchlist
from server.store.retention import PurgeCounts
from shared.protocol.alerts import DeploymentView
from shared.protocol.base import Purpose
from shared.protocol.limits import MAX_INT64, Name, Text

GOVERNANCE_READERS = roles("admin", "authoriser", "dispatcher", "auditor")


class AuthoriseBody(msgspec.Struct, frozen=True, kw_only=True):
    authority_ref: Name
    """Reference of the authority's decision (warrant, order or log number)."""
    purpose: Purpose
    """Must equal the deployment's purpose."""
    urgent: bool = False
    """Start before the authority has ruled: runs at most 24 h unless confirmed."""


class ConfirmBody(msgspec.Struct, frozen=True, kw_only=True):
    authority_ref: Name


class WithdrawBody(msgspec.Struct, frozen=True, kw_only=True):
    reason: Text = ""


class ThresholdBody(msgspec.Struct, frozen=True, kw_only=True):
    threshold: float
    """In (0, 1]; refused otherwise with ``bad_threshold``."""


class AuthorisationView(msgspec.Struct, frozen=True, kw_only=True):
    deployment_id: str
    state: str
    authoriser_id: str
    authoriser_name: str
    authority_ref: str
    purpose: str
    granted_at: float
    urgent: bool
    confirm_by: float | None
    confirmed_at: float | None
    closed_at: float | None
    close_reason: str
    ended_at: float | None
    watchlist_hash: str
    watchlist_size: int


class WithdrawResult(msgspec.Struct, frozen=True, kw_only=True):
    authorisation: AuthorisationView
    purged: PurgeCounts


def _auth_view(a: DeploymentAuthorisation) -> AuthorisationView:
    return AuthorisationView(
        deployment_id=a.deployment_id, state=a.state, authoriser_id=a.authoriser_id,
        authoriser_name=a.authoriser_name, authority_ref=a.authority_ref, purpose=a.purpose,
        granted_at=a.granted_at, urgent=a.urgent, confirm_by=a.confirm_by,
        confirmed_at=a.confirmed_at, closed_at=a.closed_at, close_reason=a.close_reason,
        ended_at=a.ended_at, watchlist_hash=a.watchlist_hash, watchlist_size=a.watchlist_size,
    )


async def _load_auth(rt: Runtime, deployment_id: str) -> AuthorisationView:
    async with rt.db.sessions() as session:
        auth = await session.get(DeploymentAuthorisation, deployment_id)
        if auth is None:
            raise NotFound("this deployment has no authorisation")
        return _auth_view(auth)


class AuthorisationController(Controller):
    path = "/api/deployments/{deployment_id:str}"
    tags = ("governance",)

    @post("/authorisation", operation_id="authoriseDeployment", guards=[roles("authoriser")])
    async def authorise(
        self, rt: RuntimeDep, deployment_id: FromPath[str], data: JSONBody[AuthoriseBody],
        principal: PrincipalDep,
    ) -> AuthorisationView:
        """Authorise a deployment (name, authority reference, purpose); ``urgent`` starts it
        before the authority rules, for at most 24 h unless confirmed."""
        auth = await governance.authorise(
            rt, deployment_id, principal, authority_ref=data.authority_ref,
            purpose=data.purpose, urgent=data.urgent)
        return _auth_view(auth)

    @get("/authorisation", operation_id="getAuthorisation", guards=[GOVERNANCE_READERS])
    async def get_authorisation(self, rt: RuntimeDep,
                                deployment_id: FromPath[str]) -> AuthorisationView:
        """The deployment's authorisation and what became of it."""
        return await _load_auth(rt, deployment_id)

    @post("/authorisation/confirm", operation_id="confirmAuthorisation",
          guards=[roles("authoriser")], status_code=200)
    async def confirm(self, rt: RuntimeDep, deployment_id: FromPath[str],
                      data: JSONBody[ConfirmBody], principal: PrincipalDep) -> AuthorisationView:
        """Confirm an urgent start: the deployment gets its full window back."""
        auth = await governance.confirm(rt, deployment_id, principal,
                                        authority_ref=data.authority_ref)
        return _auth_view(auth)

    @post("/authorisation/refuse", operation_id="refuseAuthorisation",
          guards=[roles("authoriser")], status_code=200)
    async def refuse(self, rt: RuntimeDep, deployment_id: FromPath[str],
                     data: JSONBody[WithdrawBody], principal: PrincipalDep) -> WithdrawResult:
        """Record the authority's refusal of an urgent start: stop and purge everything it
        produced."""
        purged = await governance.withdraw(rt, deployment_id, principal,
                                           refused=True, reason=data.reason)
        return WithdrawResult(authorisation=await _load_auth(rt, deployment_id),
                              purged=purged)

    @post("/authorisation/revoke", operation_id="revokeAuthorisation",
          guards=[roles("authoriser")], status_code=200)
    async def revoke(self, rt: RuntimeDep, deployment_id: FromPath[str],
                     data: JSONBody[WithdrawBody], principal: PrincipalDep) -> WithdrawResult:
        """Revoke the authorisation: stop at once and purge every alert, probe crop and
        outbox message the deployment produced."""
        purged = await governance.withdraw(rt, deployment_id, principal,
                                           refused=False, reason=data.reason)
        return WithdrawResult(authorisation=await _load_auth(rt, deployment_id),
                              purged=purged)

    @post("/threshold", operation_id="setThreshold", guards=[roles("admin", "authoriser")],
          status_code=200)
    async def set_threshold(
        self, rt: RuntimeDep, deployment_id: FromPath[str], data: JSONBody[ThresholdBody],
        principal: PrincipalDep,
    ) -> DeploymentView:
        """Change the threshold; under the calibrated floor only an authoriser may (audited,
        and so is a refused attempt)."""
        if not 0.0 < data.threshold <= 1.0:
            raise VigilError("bad_threshold", "threshold must be in (0, 1]")
        async with rt.db.sessions() as session:
            dep = await session.get(Deployment, deployment_id)
            if dep is None:
                raise NotFound("no such deployment")
            watchlist_id = dep.watchlist_id
        policy = await check_threshold(rt, principal, threshold=data.threshold,
                                       watchlist_id=watchlist_id,
                                       fallback_default=default_threshold(rt),
                                       deployment_id=deployment_id)
        return await change_threshold(rt, principal, deployment_id, data.threshold, policy)

    @get("/transparency", operation_id="transparencyRecord", guards=[GOVERNANCE_READERS],
         responses={200: ResponseSpec(TransparencyRecord, description="the record as JSON "
                                      "(format=markdown: as Markdown text)")})
    async def transparency(
        self, rt: RuntimeDep, deployment_id: FromPath[str],
        fmt: Annotated[Literal["json", "markdown"], QueryParameter(name="format")] = "json",
    ) -> Response[bytes]:
        """The publishable transparency record, as JSON or Markdown."""
        await rt.frame_counts.flush()  # its figures include every frame answered so far
        async with rt.db.sessions() as session:
            dep = await session.get(Deployment, deployment_id)
            if dep is None:
                raise NotFound("no such deployment")
            record: TransparencyRecord = await transparency_record(session, dep, rt.clock())
        if fmt == "markdown":
            return Response(to_markdown(record).encode(), media_type="text/markdown")
        return Response(msgspec.json.encode(record), media_type="application/json")


class ThresholdController(Controller):
    path = "/api/thresholds"
    tags = ("governance",)

    @get("/", operation_id="thresholdPolicy",
         guards=[roles("admin", "authoriser", "watchlist_manager", "auditor")])
    async def policy(self, rt: RuntimeDep,
                     watchlist_id: FromQuery[str]) -> ThresholdPolicy:
        """The calibrated default and floor for the running model and this watchlist's size."""
        async with rt.db.sessions() as session:
            if await session.get(Watchlist, watchlist_id) is None:
                raise NotFound("no such watchlist")
        return await watchlist_policy(rt, watchlist_id, default_threshold(rt))


class AuditController(Controller):
    path = "/api/audit"
    tags = ("audit",)
    guards = (roles("auditor"),)

    @get("/", operation_id="listAudit")
    async def list_records(
        self, rt: RuntimeDep,
        after_seq: Annotated[int, QueryParameter(ge=0, le=MAX_INT64)] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=5000)] = 500,
    ) -> list[AuditEntry]:
        """Audit records after ``after_seq``, oldest first (page with the last seq)."""
        out: list[AuditEntry] = []
        async with rt.db.sessions() as session:
            async for row in iter_records(session, after_seq=max(0, after_seq)):
                try:
                    out.append(to_entry(row))
                except msgspec.DecodeError as exc:
                    raise VigilError("audit_damaged", f"record {row.seq} is damaged; run "
                                     "the verification", status=409) from exc
                if len(out) >= max(1, min(limit, 5000)):
                    break
        return out

    @get("/verify", operation_id="verifyAudit")
    async def verify(self, rt: RuntimeDep) -> VerifyReport:
        """Walk the hash chain: ``ok``, or the first bad record and what is wrong with it."""
        async with rt.db.sessions() as session:
            return await verify_chain(session)

    @get("/export", operation_id="exportAudit", media_type="application/x-ndjson")
    async def export(self, rt: RuntimeDep) -> Stream:
        """The whole log as JSON lines."""

        async def lines() -> AsyncIterator[bytes]:
            async with rt.db.sessions() as session:
                async for line in export_lines(session):
                    yield line

        return Stream(lines(), media_type="application/x-ndjson")
