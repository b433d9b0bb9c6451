"""RELIABILITY.md H2: every HTML response carries the security headers; pages are never cached."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from relapsewatch.web import WebSettings, create_app
from relapsewatch.web.routers.assets import plotly_version
from relapsewatch.web.security import security_headers

HTML_PAGES = (
    "/patients",
    "/patients?q=W",
    "/patients/W-LEN",
    "/patients/W-LEN/results/new",
    "/patients/W-LEN/treatments/new",
    "/import",
    "/support",
    "/support/ask",
    "/community",
    "/info/relapse_1",
    "/patients/NOBODY",
    "/no/such/page",
    "/account/password",
)


def test_every_html_page_carries_the_security_headers_and_no_store(reader: TestClient) -> None:
    for path in HTML_PAGES:
        page = reader.get(path)
        assert page.headers["content-type"].startswith("text/html"), path
        csp = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp, path
        assert "script-src 'self'" in csp and "style-src 'self'" in csp, path
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
        assert page.headers["x-content-type-options"] == "nosniff", path
        assert page.headers["referrer-policy"] == "no-referrer", path
        assert page.headers["cross-origin-opener-policy"] == "same-origin", path
        assert page.headers["cache-control"] == "no-store", path
        assert "strict-transport-security" not in page.headers, path
        assert page.headers["x-request-id"], path


def test_no_inline_script_or_style_in_pages(reader: TestClient) -> None:
    for path in HTML_PAGES:
        html = reader.get(path).text
        for start in range(len(html)):
            start = html.find("<script", start)
            if start < 0:
                break
            tag = html[start : html.index(">", start)]
            assert "src=" in tag or 'type="application/json"' in tag, (path, tag)
        assert "<style" not in html, path
        assert " style=" not in html, path
        assert " onclick=" not in html and "javascript:" not in html, path


def test_static_assets_may_be_cached_and_plotly_is_served_from_the_package(
    reader: TestClient,
) -> None:
    css = reader.get("/static/css/app.css")
    assert css.status_code == 200
    assert css.headers["cache-control"] != "no-store"
    assert css.headers["x-content-type-options"] == "nosniff"
    version = plotly_version()
    plotly = reader.get(f"/assets/plotly-{version}.min.js", headers={"Accept-Encoding": "gzip"})
    assert plotly.status_code == 200
    assert plotly.headers["content-encoding"] == "gzip"
    assert plotly.headers["content-type"].startswith("text/javascript")
    assert f"plotly.js v{version}" in plotly.text[:400]
    again = reader.get(
        f"/assets/plotly-{version}.min.js", headers={"If-None-Match": plotly.headers["etag"]}
    )
    assert again.status_code == 304
    assert reader.get("/assets/plotly-0.0.1.min.js").status_code == 404
    page = reader.get("/patients/W-LEN").text
    assert f'src="/assets/plotly-{version}.min.js"' in page


def test_hsts_is_sent_only_when_served_over_tls() -> None:
    assert ("Strict-Transport-Security", "max-age=31536000; includeSubDomains") in (
        security_headers(https=True)
    )
    assert all(name != "Strict-Transport-Security" for name, _ in security_headers(https=False))


def test_a_patient_page_body_is_reused_until_the_record_changes_and_never_compressed(
    reader: TestClient,
) -> None:
    first = reader.get("/patients/W-BTZ", headers={"Accept-Encoding": "gzip"})
    again = reader.get("/patients/W-BTZ", headers={"Accept-Encoding": "gzip"})
    # Pages carry the session's CSRF token next to text the user typed: never compressed
    # (BREACH), and the cached part is only the body, not the frame with the token.
    assert "content-encoding" not in first.headers
    assert again.text == first.text
    assert again.headers["cache-control"] == "no-store"


def test_a_server_error_is_a_plain_page_with_the_headers_and_no_trace(
    settings: WebSettings, engine: Engine
) -> None:
    app = create_app(settings, engine=engine)

    @app.get("/boom")  # outside the routers, so outside the policy: only for this test
    def boom() -> None:
        raise RuntimeError("secret detail W-LEN 1.9 g/dL")

    with TestClient(app, raise_server_exceptions=False) as client:
        page = client.get("/boom")
    assert page.status_code == 500
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-request-id"] in page.text
    assert "secret detail" not in page.text and "Traceback" not in page.text
