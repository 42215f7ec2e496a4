"""The agent's HTTP client for the central sync hub.

Errors are sorted by what the agent should do about them: ``Offline`` (retry with
backoff), ``Revoked`` (stop; keep the local data), ``Refused`` (schema too old, or
another permanent refusal: stop and say so), ``CentralError`` (retry later).

Requests and answers are ``core.sync.wire`` messages; an answer that does not match its
message is a ``CentralError`` (a server speaking another wire), never half-read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any, TypeVar

import httpx
import orjson
from pydantic import BaseModel, ValidationError

from core.sync import wire
from core.sync.wire import SCHEMA_HEADER, SCHEMA_VERSION


class SyncError(Exception):
    pass


class Offline(SyncError):
    """The central server could not be reached (or the reply was lost)."""


class Revoked(SyncError):
    pass


class Refused(SyncError):
    """A permanent refusal: the schema version, or an enrolment code."""


class EpochChanged(SyncError):
    """The central server is in another epoch than the one this site synced in: it was
    restored from a backup (see ``central.epoch``)."""

    def __init__(self, info: wire.EpochInfo) -> None:
        super().__init__(f"the central server is in a new epoch {info.id} (restored)")
        self.info = info


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
        # Sent with pushes and pulls so a restored central server is found out.
        self.epoch: str | None = None
        self.cursor_mark: str | None = None  # "CURSOR;MARK" of the site's feed cursor
        self.last_epoch: wire.EpochInfo | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._own_http:
            self.http.close()

    # --- plumbing -------------------------------------------------------------------

    def _headers(self, auth: bool) -> dict[str, str]:
        headers = {SCHEMA_HEADER: str(self.schema_version)}
        if self.epoch:
            headers[wire.EPOCH_HEADER] = self.epoch
        if self.cursor_mark:
            headers[wire.CURSOR_HEADER] = self.cursor_mark
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
        if resp.status_code == 409 and code == "epoch_changed":
            errs = {e.get("field"): e.get("message") for e in body.get("errors") or ()}
            raise EpochChanged(wire.EpochInfo(id=str(errs.get("epoch")),
                                              head=int(errs.get("head") or 0)))  # fmt: skip
        if resp.status_code in (502, 503, 504):
            raise Offline(f"central server unavailable ({resp.status_code})")
        raise CentralError(resp.status_code, body)

    # --- the sync API ---------------------------------------------------------------

    def probe(self, timeout: float = 0.5) -> bool:
        """Does the central server answer? A cheap unauthenticated request, made while
        the agent waits out its backoff so that it is back within a second of the
        central server answering again."""
        try:
            resp = self.http.get(self.base_url + "/api/health", timeout=timeout)
        except httpx.HTTPError:
            return False
        return resp.status_code < 500

    def enroll(self, code: str, device_name: str) -> dict[str, Any]:
        try:
            return self._send("POST", "/api/sync/enroll", auth=False,
                              json={"code": code, "device_name": device_name})  # fmt: skip
        except CentralError as exc:
            if exc.status in (401, 403):
                raise Refused(str(exc)) from exc
            raise

    def push(self, ops: list[wire.Op]) -> list[wire.OpResult]:
        body = wire.PushRequest(
            device_id=self.device_id, schema_version=self.schema_version, ops=ops
        )
        data = self._send("POST", "/api/sync/push", json=body.model_dump(mode="json"),
                          timeout=120.0)  # fmt: skip
        answer = _parse(wire.PushAnswer, data)
        self.last_epoch = answer.epoch
        return answer.results

    def pull(self, after: int, *, limit: int = 2000, wait: float = 0) -> wire.PullAnswer:
        params = {"after": after, "limit": limit, "wait": wait}
        data = self._send("GET", "/api/sync/pull", params=params, timeout=wait + 30.0)
        return _parse(wire.PullAnswer, data)

    def snapshot(self) -> Iterator[wire.SnapshotLine]:
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
                        yield wire.snapshot_line(orjson.loads(line))
        except httpx.TransportError as exc:
            raise Offline(f"{type(exc).__name__}: {exc}") from exc

    def verify(
        self, entity: str, top: int | None = None, sub: int | None = None
    ) -> wire.VerifyAnswer:
        params: dict[str, Any] = {"entity": entity, "tombstones": "true"}
        if top is not None:
            params["top"] = top
        if sub is not None:
            params["sub"] = sub
        return _parse(wire.VerifyAnswer, self._send("GET", "/api/sync/verify", params=params))

    def verify_report(self, report: wire.VerifyReport) -> None:
        self._send_empty("POST", "/api/sync/verify/report", json=report.model_dump())

    def _send_empty(self, method: str, path: str, **kw: Any) -> None:
        try:
            resp = self.http.request(method, self.base_url + path, headers=self._headers(True),
                                     **kw)  # fmt: skip
        except httpx.TransportError as exc:
            raise Offline(f"{type(exc).__name__}: {exc}") from exc
        if resp.status_code >= 400:
            self._check(resp)

    def conflicts(self, open_only: bool = True) -> list[dict[str, Any]]:
        params = {"open_only": str(open_only).lower()}
        data = self._send("GET", "/api/sync/conflicts", params=params)
        return [c.model_dump() for c in _parse(wire.ConflictList, data).conflicts]

    def resolve(self, conflict_id: str, choice: str, values: dict | None = None) -> dict:
        body = wire.ResolveRequest.model_validate({"choice": choice, "values": values})
        data = self._send("POST", f"/api/sync/conflicts/{conflict_id}/resolve",
                          json=body.model_dump())  # fmt: skip
        return _parse(wire.ConflictInfo, data).model_dump()

    # --- attachment bytes (central.blob_routes) -------------------------------------

    def _raw(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """A request whose answer is not JSON (blob bytes, HEAD); refreshes the token once
        like ``_send``. Answers >= 400 other than 404 and 409 raise as ``_check`` does."""
        for attempt in (0, 1):
            try:
                resp = self.http.request(method, self.base_url + path,
                                         headers={**self._headers(True), **kw.pop("headers", {})},
                                         **kw)  # fmt: skip
            except httpx.TransportError as exc:
                raise Offline(f"{type(exc).__name__}: {exc}") from exc
            if resp.status_code == 401 and attempt == 0:
                with self._lock:
                    self._token = None
                continue
            if resp.status_code >= 400 and resp.status_code not in (404, 409):
                self._check(resp)
            return resp
        raise AssertionError("unreachable")

    def blob_state(self, sha256: str) -> tuple[bool, int]:
        """(held by the organisation, its size if held else how much of an upload has
        arrived)."""
        resp = self._raw("HEAD", f"/api/sync/blobs/{sha256}")
        if resp.status_code == 200:
            return True, int(resp.headers.get("content-length") or 0)
        return False, int(resp.headers.get("upload-offset") or 0)

    def blob_put(
        self, sha256: str, offset: int, total: int, chunk: bytes
    ) -> tuple[int, bool, bool]:
        """Send one chunk; returns (bytes the server has, complete, held already). A
        409 (the server has another offset) answers where to go on from."""
        resp = self._raw("PUT", f"/api/sync/blobs/{sha256}", params={"offset": offset,
                         "total": total}, content=chunk,
                         headers={"Content-Type": "application/octet-stream"},
                         timeout=120.0)  # fmt: skip
        body = _body(resp)
        if resp.status_code == 409 and isinstance(body, dict):
            return int((body.get("params") or {}).get("have", 0)), False, False
        if resp.status_code >= 400:
            raise CentralError(resp.status_code, body)
        return int(body["received"]), bool(body["complete"]), bool(body.get("held"))

    def blob_get(self, sha256: str, start: int = 0) -> Iterator[bytes]:
        """The bytes of a blob from ``start`` (a Range request when resuming). Raises
        ``CentralError`` 404 when the organisation holds no such blob."""
        headers = {**self._headers(True)}
        if start:
            headers["Range"] = f"bytes={start}-"
        try:
            with self.http.stream("GET", self.base_url + f"/api/sync/blobs/{sha256}",
                                  headers=headers, timeout=120.0) as resp:  # fmt: skip
                if resp.status_code >= 400:
                    resp.read()
                    self._check(resp)
                if start and resp.status_code != 206:
                    raise CentralError(resp.status_code, "the server ignored the Range")
                yield from resp.iter_bytes(1 << 20)
        except httpx.TransportError as exc:
            raise Offline(f"{type(exc).__name__}: {exc}") from exc


M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise CentralError(502, f"answer is not a {model.__name__}: {exc}") from exc
