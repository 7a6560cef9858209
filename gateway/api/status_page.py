"""The web root: a small HTML status page, so ``make run`` shows something in a browser."""

from __future__ import annotations

import html

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from gateway.db.flexoffer import StoredFlexOffer

router = APIRouter(include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>flexhub</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}}
code{{background:#f3f3f3;padding:0 .2em}}</style></head>
<body>
<h1>flexhub is running</h1>
<p>Integration hub for energy flexibility (FlexOffer, OpenADR, UFTP, CIM).</p>
<ul>
<li>Database: <code>{database}</code> ({offers} flex-offers stored)</li>
<li><a href="/api/v1/docs">API documentation</a> (OpenAPI: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>)</li>
<li><a href="/api/v1/health">Health</a></li>
</ul>
<p>Create an API key with <code>flexhub keys create --party NAME --scope read --scope write</code>
and send it as <code>X-API-Key</code>.</p>
</body></html>"""


@router.get("/", response_class=HTMLResponse)
def status_page(request: Request) -> HTMLResponse:
    url = request.app.state.engine.url.render_as_string(hide_password=True)
    with request.app.state.sessionmaker() as session:
        offers = session.execute(select(func.count()).select_from(StoredFlexOffer)).scalar_one()
    return HTMLResponse(_PAGE.format(database=html.escape(url), offers=offers))
