"""Subcommands of this package (filled in as the package grows)."""

from typing import Any


def register(sub: Any) -> None:
    """Add this package's subcommands to the structura command."""
