"""The relapse companion web app: FastAPI routes over the library, server-rendered pages.

>>> from relapsewatch.web import WebSettings, create_app   # doctest: +SKIP
>>> app = create_app(WebSettings(database_url="sqlite:///relapsewatch.db"))  # doctest: +SKIP

See ``docs/web.md``.
"""

from relapsewatch.web.app import create_app
from relapsewatch.web.settings import WebSettings

__all__ = ["WebSettings", "create_app"]
