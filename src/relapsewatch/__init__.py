"""relapsewatch: follows a cancer through treatment, remission and relapse."""

from relapsewatch._version import __version__

__all__ = ["__version__"]
