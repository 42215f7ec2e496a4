"""Process-wide settings for a process that serves people while worker threads run
(the desktop's window, ``site serve``'s event loop). Measured in docs/benchmarks.md.

- What start-up made lives as long as the process: ``gc.freeze()`` moves it out of the
  collector's sight, so a full collection (run while holding the GIL) walks what was made
  since instead of every object; those walks were 50-500 ms stalls of the window and of
  the event loop at 1,000 live streams.
- A 1 ms GIL switch interval instead of 5 ms: a thread that gives the GIL up for SQLite
  or a socket gets it back sooner while another thread runs.
"""

from __future__ import annotations

import gc
import sys


def keep_responsive() -> None:
    """Freeze what was made so far and shorten the GIL switch interval. Called once
    start-up is done (again after later start-up work: freezing is cumulative)."""
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(0.001)
