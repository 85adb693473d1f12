"""The Python face of the simulated cloud: start, steer, inspect, stop."""

from __future__ import annotations

import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from .cloud import Cloud, make_server
from .generate import build_tenant
from .identities import grant_role, make_dynamics_admin, revoke_role
from .limits import Injection
from .managed_identity import APP_SERVICE_PATH, IMDS_PATH
from .options import SimulatorOptions
from .people import web_people
from .tenant import AuditColumns, Tenant, User
from .tls import Tls
from .truth import Truth


class Simulator:
    """Runs the HTTPS server on a background thread; use as a context manager."""

    def __init__(self, opts: SimulatorOptions | None = None) -> None:
        self.opts = opts or SimulatorOptions()
        self._cloud: Cloud | None = None
        self._thread: threading.Thread | None = None
        self._dir: Path | None = None
        self._server: Any = None

    def start(self) -> Simulator:
        self._dir = Path(tempfile.mkdtemp(prefix="la-simulator-"))
        url_host = "127.0.0.1" if self.opts.host in ("0.0.0.0", "") else self.opts.host
        self._tls = Tls(url_host, self._dir)
        self._server = make_server(self.opts.host, self.opts.port, self._tls.server_context())
        port = self._server.server_address[1]
        base = f"https://{url_host}:{port}"
        tenant = build_tenant(self.opts, base)
        self._cloud = Cloud(self.opts, tenant, base)
        self._server.cloud = self._cloud
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="license-analyzer-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def cloud(self) -> Cloud:
        if self._cloud is None:
            raise RuntimeError("The simulator is not running; call start() first.")
        return self._cloud

    @property
    def base_url(self) -> str:
        return self.cloud.base_url

    @property
    def info(self) -> dict[str, Any]:
        c = self.cloud
        t = c.tenant
        return {
            "authority_host": c.base_url,
            "graph_url": f"{c.base_url}/graph/v1.0",
            "tenant_id": t.id,
            "client_id": t.app.client_id,
            "client_secret": t.app.client_secret,
            "ca_bundle": str(self._tls.ca_path),
            "dataverse": [e.url for e in t.dataverse],
            "finance_operations": [e.url for e in t.finance_operations],
            "power_platform_url": c.bap_resource,
            # the review app's registration (people.py)
            "web_client_id": t.web_app.client_id,
            "web_client_secret": t.web_app.client_secret,
            "web_groups": {"viewers": t.access_groups.viewers,
                           "reviewers": t.access_groups.reviewers,
                           "admins": t.access_groups.admins},
            "web_people": web_people(t),
            # managed identity: IMDS's address on a VM, App Service's IDENTITY_ENDPOINT/HEADER
            "managed_identity_endpoint": f"{c.base_url}{IMDS_PATH}",
            "identity_endpoint": f"{c.base_url}{APP_SERVICE_PATH}",
            "identity_header": c.identity_header,
            "managed_identities": {mi.kind: mi.client_id for mi in t.managed_identities},
        }

    @property
    def tenant(self) -> Tenant:
        return self.cloud.tenant

    @property
    def truth(self) -> Truth:
        return Truth(self.cloud.tenant, self.opts)

    @property
    def request_log(self) -> list[tuple[str, str, int]]:
        return list(self.cloud.request_log)

    def set_now(self, when: datetime) -> None:
        self.cloud.tenant.now = when

    def advance(self, days: float = 1, hours: float = 0) -> None:
        self.set_now(self.cloud.tenant.now + timedelta(days=days, hours=hours))

    def inject(self, method: str, path: str, *, status: int | str | None = 500, times: int = 1,
               skip: int = 0, after: bool = False, call: Callable[[], object] | None = None
               ) -> None:
        """Fail requests a test picks: `method` ("*" for any) and `path` (a regular expression
        searched in the path, case-insensitive) select them; `skip` lets that many through
        first, then `times` of them answer `status` (an HTTP status, or "drop" to close the
        connection unanswered). `after`: the request takes effect first and only its answer is
        lost, as when a call times out after the service acted. `call` runs when it fires (in
        the server's thread), for a test that must act at that very moment; with status=None
        the request then proceeds normally."""
        self.cloud.injections.add(Injection(method.upper(), re.compile(path, re.I), status,
                                            times, skip, after, call))

    def record_access(self, user_id: str, when: datetime, env_index: int = 0) -> bool:
        """The Entra user opens a model-driven app in one Dataverse environment at `when`: an
        access record (operation 4, action 64) appears in its audit. False when the user has no
        systemuser there."""
        env = self.cloud.tenant.dataverse[env_index]
        user = self.cloud.tenant.users_by_id.get(user_id.lower())
        index = next((i for i, s in enumerate(env.systemusers)
                      if user is not None and s.kind == "human" and s.user_idx == user.idx), None)
        if index is None:
            return False
        a = env.audit
        ts = int(when.timestamp())
        at = int(np.searchsorted(a.t, ts, side="right"))
        env.audit = AuditColumns(np.insert(a.t, at, ts), np.insert(a.su, at, index),
                                 np.insert(a.action, at, 64), np.insert(a.legacy, at, False),
                                 np.insert(a.delay, at, 0))
        return True

    def clear_injections(self) -> None:
        self.cloud.injections.clear()

    def throttle_storm(self, seconds: float, retry_after: float = 2.128) -> None:
        """Every Graph and Dataverse call answers 429 for `seconds` (scaled by time_scale)."""
        storm = self.cloud.storm
        storm.retry_after = retry_after
        storm.until = time.monotonic() + self.opts.scaled(seconds)

    # Delegated sign-in, as a person and an administrator would steer it

    def user(self, upn: str) -> User:
        found = next((u for u in self.tenant.users if u.upn.lower() == upn.lower()), None)
        if found is None:
            raise KeyError(upn)
        return found

    def approve_device_code(self, user_code: str, upn: str) -> None:
        """The person `upn` opened the verification page, signed in and entered the code."""
        if not self.cloud.device_codes.approve(user_code, self.user(upn).id):
            raise ValueError(f"no pending device code {user_code!r}")

    def revoke_sign_in_sessions(self, upn: str) -> None:
        """An administrator's "Revoke sessions" (or a password reset): refresh tokens die."""
        self.cloud.delegation.revoke(self.user(upn).id, self.tenant.now)

    def block_sign_ins(self, upn: str, apis: set[str] | None = None) -> None:
        """A Conditional Access policy blocks the person (for these APIs: graph, dataverse,
        fno, bap; default all)."""
        self.cloud.delegation.block(self.user(upn).id, apis)

    def grant_role(self, upn: str, role: str) -> None:
        grant_role(self.tenant, self.user(upn), role)

    def revoke_role(self, upn: str, role: str) -> None:
        revoke_role(self.tenant, self.user(upn), role)

    def make_dynamics_admin(self, upn: str) -> None:
        """System Administrator in every Dataverse environment, an enabled F&O user."""
        make_dynamics_admin(self.tenant, self.user(upn))

    def admin_center_export(self) -> str:
        """The Power Platform admin center's F&O "User license consumption" CSV for this
        tenant, as an administrator would download it (refreshed a day ago)."""
        from .fno_security import admin_center_csv

        with self.tenant.lock:
            return admin_center_csv(self.tenant)
