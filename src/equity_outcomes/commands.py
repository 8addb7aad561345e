"""Subcommands of the ``equity-outcomes`` CLI."""

from __future__ import annotations
