"""Liveness: answers without touching patient data (public, for monitors and the test fixture)."""

from __future__ import annotations

from fastapi import APIRouter

from relapsewatch._version import __version__

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health", name="health")
def health() -> dict[str, str]:
    """``{"status": "ok", "version": ...}`` while the app is serving."""
    return {"status": "ok", "version": __version__}
