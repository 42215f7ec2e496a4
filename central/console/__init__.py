"""The central admins' web console: server-rendered pages (Jinja) over the central
services, with password login on the central admin login service, a session cookie and
a CSRF token on every form. Services (``roles``, ``health``, ``reports``) know nothing
of HTTP; ``pages`` and ``session`` are the edge."""
