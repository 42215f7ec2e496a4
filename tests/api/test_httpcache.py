"""HTTP caching and compression: ETag -> 304 for static files, pages and API reads;
gzip for text; versioned assets kept for a year."""

from __future__ import annotations

import re
from typing import Any


def test_api_read_is_answered_304_when_unchanged(
    client: Any, as_: Any, factory: dict[str, Any]
) -> None:
    h = as_("operator")
    first = client.get("/api/me/jobs", headers=h)
    assert first.status_code == 200 and first.headers["etag"]
    again = client.get("/api/me/jobs", headers={**h, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    # A change makes a new body and a new tag.
    job = factory["job"]
    assert client.post(f"/api/jobs/{job['id']}/start", headers=h).status_code == 200
    changed = client.get("/api/me/jobs", headers={**h, "If-None-Match": first.headers["etag"]})
    assert changed.status_code == 200 and changed.headers["etag"] != first.headers["etag"]
    # A row's own ETag (its version) is the one matched.
    row = client.get(f"/api/jobs/{job['id']}", headers=h)
    same = client.get(f"/api/jobs/{job['id']}", headers={**h, "If-None-Match": row.headers["etag"]})
    assert same.status_code == 304 and same.headers["etag"] == row.headers["etag"]


def test_static_files_and_pages_gzip_cache_and_304(client: Any) -> None:
    page = client.get("/app/login", headers={"Accept-Encoding": "gzip"})
    assert page.status_code == 200 and page.headers["content-encoding"] == "gzip"
    assert page.headers["cache-control"] == "no-cache"
    v = re.search(r'app\.css\?v=(\w+)"', page.text).group(1)
    css = client.get(f"/app/static/css/app.css?v={v}", headers={"Accept-Encoding": "gzip"})
    assert css.status_code == 200 and css.headers["content-encoding"] == "gzip"
    assert "immutable" in css.headers["cache-control"]
    assert int(css.headers["content-length"]) < len(css.content)  # sent compressed
    tag = css.headers["etag"]
    again = client.get(f"/app/static/css/app.css?v={v}", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    # Without the build's version: revalidated every time, never kept blindly.
    plain = client.get("/app/static/css/app.css")
    assert plain.headers["cache-control"] == "no-cache"
    page_tag = page.headers["etag"]
    assert client.get("/app/login", headers={"If-None-Match": page_tag}).status_code == 304
