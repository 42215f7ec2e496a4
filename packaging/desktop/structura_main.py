"""Entry point of the desktop bundle: the whole ``structura`` command, frozen.

The bundle's executable is ``structura``, so ``structura desktop``, ``structura site
serve``, ``structura backup ...`` and the rest work from it exactly as from a venv.
"""

import multiprocessing
import sys

from core.cli import main

if __name__ == "__main__":
    # uvicorn and zeroconf never fork here, but a frozen program that someday does
    # must not re-run main() in the child.
    multiprocessing.freeze_support()
    sys.exit(main())
