"""Reading where a ``structura site serve`` child process listens, from its first lines."""

from __future__ import annotations

import re
import subprocess
import time


def serving_url(proc: subprocess.Popen[str], timeout: float) -> str | None:
    """The URL the server prints once it listens (``serving ... on http://...``), or
    None when it exits or says nothing of the kind within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            return None
        match = re.search(r"serving .* on (http://\S+)", line)
        if match:
            return match.group(1).rstrip("/")
    return None
