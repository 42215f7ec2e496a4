"""The old browser apps' APIs over the site's own services (compatibility layer).

Rows go in and out in the old apps' shapes (``core.legacy.mapping`` and
``core.legacy.present``: the same tables as the import and the export) and every
write goes through ``core.writes`` with the caller as actor: same rules, audit log,
outbox and sync as any other entry point. Nothing here keeps data of its own except
the tour app's applied offline operations (``core.compat.tour_sync``).
"""
