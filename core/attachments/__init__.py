"""Attachments: files and photos of jobs, downtime, machines, shows and travel legs.

The row (``attachments``) is a synced entity like any other; its bytes live apart, in a
content-addressed store beside the site database (``blobs.BlobStore``), and travel to
the central server and other sites by their SHA-256 (``sync_agent``, ``central``).
"""
