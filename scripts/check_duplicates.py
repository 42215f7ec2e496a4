"""Duplicate-code check for CI: pylint's ``duplicate-code`` (R0801), failing only on a
block repeated across packages.

    python scripts/check_duplicates.py          # exit 1 if a block repeats across packages
    python scripts/check_duplicates.py --all    # also list repeats inside one package

A "package" is a directory of modules (``core/factory``, ``core/legacy``, ``tests/api``,
``bench/harness``...). Two modules of one directory usually have one author who sees
both; a block copied into another directory is the one that drifts, so only those fail.
Blocks of fewer than 8 lines, imports, docstrings, comments and signatures are ignored
(below that it reports dict literals and argument lists, not shared logic).
pylint does the finding; this script only runs it and sorts its answers.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATHS = ("core", "local_api", "sync_agent", "central", "desktop", "migrations", "bench", "tests")
MIN_LINES = 8
PYLINT_ARGS = [
    "--disable=all",
    "--enable=duplicate-code",
    f"--min-similarity-lines={MIN_LINES}",
    "--ignore-imports=y",
    "--ignore-docstrings=y",
    "--ignore-comments=y",
    "--ignore-signatures=y",
    "--output-format=json2",
    "--score=n",
]
_LOCATION = re.compile(r"^==([\w.]+):\[(\d+):(\d+)\]$")


@dataclass(frozen=True)
class Block:
    module: str
    start: int  # 0-based, end exclusive: pylint's own slice of the file's lines
    end: int

    @property
    def path(self) -> str:
        parts = self.module.split(".")
        as_package = Path(*parts)
        if (ROOT / as_package).is_dir():
            return f"{as_package}/__init__.py"
        return f"{as_package}.py"

    @property
    def package(self) -> str:
        return str(Path(self.path).parent)

    def __str__(self) -> str:
        return f"{self.path}:{self.start + 1}-{self.end}"


def parse(report: str) -> list[tuple[list[Block], str]]:
    """(blocks, code) of every duplicate-code message in pylint's json2 output."""
    found = []
    for message in json.loads(report)["messages"]:
        if message["symbol"] != "duplicate-code":
            continue
        blocks, code = [], []
        for line in message["message"].splitlines()[1:]:
            match = _LOCATION.match(line.strip())
            if match:
                blocks.append(Block(match[1], int(match[2]), int(match[3])))
            else:
                code.append(line)
        found.append((blocks, "\n".join(code)))
    return found


def run_pylint(jobs: int) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "pylint", f"--jobs={jobs}", *PYLINT_ARGS, *PATHS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    # pylint's exit status is a bit field of message kinds; 8 = refactor (R0801) found.
    if result.returncode & ~8:
        sys.stderr.write(result.stderr)
        raise SystemExit(f"pylint failed (exit {result.returncode})")
    return result.stdout


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--all", action="store_true", help="also list repeats inside one package")
    # One process: on 2 busy cores -j2 cost more CPU (23 s vs 16 s) for little wall time.
    ap.add_argument("--jobs", type=int, default=1)
    args = ap.parse_args(argv)
    failures = 0
    for blocks, code in parse(run_pylint(args.jobs)):
        across = len({b.package for b in blocks}) > 1
        if not (across or args.all):
            continue
        failures += across
        kind = "across packages" if across else "inside one package (allowed)"
        print(f"{blocks[0].end - blocks[0].start} similar lines {kind}:")
        for block in blocks:
            print(f"  {block}")
        print("\n".join(f"    | {line}" for line in code.strip("\n").splitlines()[:12]))
    if failures:
        print(f"\n{failures} block(s) repeated across packages: move them to one module.")
        return 1
    print(f"duplicate-code: no block of {MIN_LINES}+ lines repeated across packages")
    return 0


if __name__ == "__main__":
    sys.exit(main())
