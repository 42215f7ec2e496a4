"""The API reference in the repository: the OpenAPI document of the site API and a
Markdown table of its routes, both generated from the real app.

    python -m local_api.apidoc            # rewrite docs/openapi-site.json and docs/api-routes.md
    python -m local_api.apidoc --check    # exit 1 if they are out of date (the test does this)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1] / "docs"
SPEC_FILE = DOCS / "openapi-site.json"
ROUTES_FILE = DOCS / "api-routes.md"
METHODS = ("get", "post", "put", "patch", "delete")


def site_openapi() -> dict[str, Any]:
    """The OpenAPI document of an app on a throwaway store (routes do not depend on data)."""
    from core.settings import Settings
    from core.site import ensure_site, open_store
    from local_api.app import create_app
    from local_api.context import AppContext

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        store = open_store(settings.store_url())
        ensure_site(store, org_name="Reference", site_name="Reference")
        store.dispose()
        context = AppContext.open(settings)
        try:
            return create_app(context).openapi()
        finally:
            close = getattr(context, "close", None)
            if close:
                close()


def render_routes(spec: dict[str, Any]) -> str:
    lines = [
        "# API routes",
        "",
        "Generated from the site API's OpenAPI document by `python -m local_api.apidoc`;",
        "a test fails when it is out of date. Each running server also serves the document",
        "at `/openapi.json` and an interactive reference at `/docs`.",
        "",
        "| method | path | summary |",
        "| --- | --- | --- |",
    ]
    for path, ops in spec["paths"].items():
        for method in METHODS:
            op = ops.get(method)
            if op is None:
                continue
            summary = (op.get("summary") or "").replace("|", "\\|")
            lines.append(f"| {method.upper()} | `{path}` | {summary} |")
    return "\n".join(lines) + "\n"


def render_spec(spec: dict[str, Any]) -> str:
    return json.dumps(spec, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if stale")
    args = parser.parse_args(argv)
    spec = site_openapi()
    wanted = {SPEC_FILE: render_spec(spec), ROUTES_FILE: render_routes(spec)}
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text() != text]
    if args.check:
        for p in stale:
            print(f"{p.relative_to(DOCS.parent)} is out of date: run python -m local_api.apidoc")
        return 1 if stale else 0
    for p in stale:
        p.write_text(wanted[p])
        print(f"wrote {p.relative_to(DOCS.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
