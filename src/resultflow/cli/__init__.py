"""The `resultflow` console script."""

from resultflow.cli._main import main

__all__ = ["main"]
