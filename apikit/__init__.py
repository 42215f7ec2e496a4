"""HTTP plumbing shared by the site API (``local_api``) and the central server
(``central``): problem+json (``problems``), request hardening (``security``), request
ids, metrics and probes (``observe``), the OpenAPI touch-up (``openapi``), and the
generic row helpers both servers' entity routes use (``rows``: answers, versions,
list options, filters, pages, per-entity models).

Imports ``core`` and web libraries, never a server: ``local_api`` and ``central`` both
import it and never each other.
"""
