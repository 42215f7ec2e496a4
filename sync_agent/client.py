"""The agent's HTTP client for the central sync hub.

Errors are sorted by what the agent should do about them: ``Offline`` (retry with
backoff), ``Revoked`` (stop; keep the local data), ``Refused`` (schema too old, or
another permanent refusal: stop and say so), ``CentralError`` (retry later).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from core.services.sync_apply import SCHEMA_HEADER, SCHEMA_VERSION


class SyncError(Exception):
    pass


class Offline(SyncError):
    """The central server could not be reached (or the reply was lost)."""


class Revoked(SyncError):
    pass


class Refused(SyncError):
    """A permanent refusal: the schema version, or an enrolment code."""


class CentralError(SyncError):
    def __init__(self, status: int, body: Any) -> None:
        detail = body.get("detail") if isinstance(body, dict) else body
        super().__init__(f"central server answered {status}: {detail}")
        self.status, self.body = status, body


def _body(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return resp.text[:500]


class CentralClient:
    def __init__(
        self,
        base_url: str,
        *,
        device_id: str | None = None,
        device_secret: str | None = None,
        http: httpx.Client | None = None,
        timeout: float = 30.0,
        schema_version: int = SCHEMA_VERSION,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.device_id, self.device_secret = device_id, device_secret
        self.schema_version = schema_version
        self._own_http = http is None
        self.http = http or httpx.Client(timeout=httpx.Timeout(timeout, connect=5.0))
        self._token: str | None = None
        self._token_until = 0.0
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    # --- plumbing -------------------------------------------------------------------

    def _headers(self, auth: bool) -> dict[str, str]:
        headers = {SCHEMA_HEADER: str(self.schema_version)}
        if auth:
            headers["Authorization"] = f"Bearer {self._access_token()}"
        return headers

    def _access_token(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() > self._token_until:
                data = self._send("POST", "/api/sync/token", auth=False, json={
                    "device_id": self.device_id, "device_secret": self.device_secret})  # fmt: skip
                self._token = data["access_token"]
                # Renew a minute early so a token never expires in flight.
                self._token_until = time.monotonic() + max(30, int(data["expires_in"]) - 60)
            return self._token

    def _send(self, method: str, path: str, *, auth: bool = True, **kw: Any) -> Any:
        timeout = kw.pop("timeout", None)
        for attempt in (0, 1):
            try:
                resp = self.http.request(
                    method, self.base_url + path, headers=self._headers(auth),
                    **({"timeout": timeout} if timeout else {}), **kw,
                )  # fmt: skip
            except httpx.TransportError as exc:
                raise Offline(f"{type(exc).__name__}: {exc}") from exc
            if resp.status_code == 401 and auth and attempt == 0:
                with self._lock:
                    self._token = None  # expired or the server's key changed: re-issue
                continue
            return self._check(resp)
        raise AssertionError("unreachable")

    def _check(self, resp: httpx.Response) -> Any:
        if resp.status_code < 400:
            return resp.json()
        body = _body(resp)
        code = body.get("code") if isinstance(body, dict) else None
        if code == "device_revoked":
            raise Revoked(body.get("detail") or "device revoked")
        if resp.status_code == 426 or code == "schema_version_unsupported":
            raise Refused(body.get("detail") if isinstance(body, dict) else str(body))
        if resp.status_code in (502, 503, 504):
            raise Offline(f"central server unavailable ({resp.status_code})")
        raise CentralError(resp.status_code, body)

    # --- the sync API ---------------------------------------------------------------

    def enroll(self, code: str, device_name: str) -> dict[str, Any]:
        try:
            return self._send("POST", "/api/sync/enroll", auth=False,
                              json={"code": code, "device_name": device_name})  # fmt: skip
        except CentralError as exc:
            if exc.status in (401, 403):
                raise Refused(str(exc)) from exc
            raise

    def push(self, ops: list[dict[str, Any]]) -> list[dict[str, Any]]:
        body = {"device_id": self.device_id, "schema_version": self.schema_version, "ops": ops}
        return self._send("POST", "/api/sync/push", json=body, timeout=120.0)["results"]

    def pull(self, after: int, *, limit: int = 2000, wait: float = 0) -> dict[str, Any]:
        params = {"after": after, "limit": limit, "wait": wait}
        return self._send("GET", "/api/sync/pull", params=params, timeout=wait + 30.0)

    def snapshot(self) -> Iterator[dict[str, Any]]:
        try:
            with self.http.stream(
                "GET", self.base_url + "/api/sync/snapshot", headers=self._headers(True),
                timeout=300.0,
            ) as resp:  # fmt: skip
                if resp.status_code >= 400:
                    resp.read()
                    self._check(resp)
                for line in resp.iter_lines():
                    if line:
                        yield json.loads(line)
        except httpx.TransportError as exc:
            raise Offline(f"{type(exc).__name__}: {exc}") from exc

    def conflicts(self, open_only: bool = True) -> list[dict[str, Any]]:
        params = {"open_only": str(open_only).lower()}
        return self._send("GET", "/api/sync/conflicts", params=params)["conflicts"]

    def resolve(self, conflict_id: str, choice: str, values: dict | None = None) -> dict:
        return self._send("POST", f"/api/sync/conflicts/{conflict_id}/resolve",
                          json={"choice": choice, "values": values})  # fmt: skip
