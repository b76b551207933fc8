"""The analytics nameko service (thin entrypoints over :class:`analytics.application.Analytics`): one subscription
per source service keeping the read models and topic models per (tenant, project), the HTTP API serving the
report's data per project, CSV/XLSX/HTML/PDF exports and the civil servants' dashboard (``/dashboard/``).

HTTP under ``/api/v1/tenants/<tenant>/projects/<project>/analytics/``: every route declares its roles (``admin`` or
``moderator`` of the tenant), enforced by the route layer before any validation. When
``AGORA_ANALYTICS_DEMO_TENANT`` is set, the read routes are also declared public and :func:`staff_read` admits
anonymous callers for that one tenant (the dashboard's demo mode); writes (retrain, curation) always need a token.
"""
from __future__ import annotations

import inspect
import mimetypes
from pathlib import Path

from eventlet import tpool
from werkzeug.wrappers import Response

from agora.errors import NotFound, Unauthorized
from agora.nameko import subscribe
from agora.web import ObservableService, content_disposition, json_route, negotiate, openapi

from analytics import export, live, schemas
from analytics.dependencies import AnalyticsApp
from analytics.projections import SOURCES
from analytics.settings import demo_tenant

STAFF = ["admin", "moderator"]
#: read once at import: whether the read routes are declared public (demo mode) is part of their declaration
DEMO_TENANT = demo_tenant()
T = "/api/v1/tenants/<tenant>"
P = T + "/projects/<project>/analytics"
STATIC = Path(__file__).resolve().parent / "static"
NOT_FOUND = {404: "unknown project (no analytics yet)"}
TAGS = ["analytics"]
ERASURE = {"agora": ["PersonalDataForgotten"]}

FORMAT_MEDIA = {"json": "application/json", "csv": "text/csv", "xlsx": export.XLSX_MIME.split(";")[0]}
TABLE_MEDIA = tuple(FORMAT_MEDIA.values())


def staff_read(url: str, **route):
    """``GET url`` for the tenant's staff (``roles`` admin, moderator: 401/403 from the route layer). In demo mode
    (``AGORA_ANALYTICS_DEMO_TENANT``) the route is declared public too (a sent token is still checked for tenant and
    roles) and an anonymous caller is admitted for the demo tenant only (401 for any other). Handlers never check."""
    def deco(fn):
        if DEMO_TENANT is None:
            return json_route("GET", url, roles=STAFF, **route)(fn)
        wants_query = "query" in inspect.signature(fn).parameters

        def handler(self, request, caller=None, query=None, **kwargs):
            if caller is None and kwargs.get("tenant") != DEMO_TENANT:
                raise Unauthorized("sign in first: this needs a bearer token (Authorization: Bearer <token>)")
            return fn(self, request, **kwargs, **({"query": query} if wants_query else {}))
        handler.__name__, handler.__qualname__, handler.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
        return json_route("GET", url, roles=STAFF, public=True, **route)(handler)
    return deco


def _format(request, q, allowed=("json", "csv", "xlsx")) -> str:
    """The format to answer: ``?format=`` when ``Accept`` allows it, else the best of ``allowed`` for ``Accept``
    (406 naming what is available when nothing fits)."""
    offered = [FORMAT_MEDIA[q["format"]]] if "format" in request.args else [FORMAT_MEDIA[f] for f in allowed]
    media = negotiate(request, offered)
    return next(f for f, m in FORMAT_MEDIA.items() if m == media)


def _download(body: bytes, mime: str, filename: str) -> Response:
    return Response(body, status=200, mimetype=mime.split(";")[0], headers={
        "Content-Type": mime, "Content-Disposition": content_disposition(filename),
        "Cache-Control": "no-store"})


class AnalyticsService(ObservableService):
    name = "analytics"
    app = AnalyticsApp()

    # ================================================================== read models (analytics.projections)
    # One subscription (queue ``agora.sub.analytics.<name>``, the queues KEDA watches) per source service, each in
    # global order; supports that arrive before their idea wait in memory (analytics.live.Corpus). Each also
    # handles PersonalDataForgotten for what it projected, so none can write an erased pseudonym back.
    @subscribe("ideas", {"ideas": SOURCES["ideas"], **ERASURE}, batch=200)
    def on_idea_event(self, event, session):
        self.app.projections.handle(event, session, part="ideas")

    @subscribe("votes", {"votes": SOURCES["votes"], **ERASURE}, batch=200)
    def on_vote_event(self, event, session):
        self.app.projections.handle(event, session, part="votes")

    @subscribe("curation", {"analytics": SOURCES["analytics"]}, batch=50)
    def on_curation_event(self, event, session):
        self.app.projections.handle(event, session)

    @subscribe("budgets", {"budgets": SOURCES["budgets"], **ERASURE}, batch=200)
    def on_budget_event(self, event, session):
        self.app.projections.handle(event, session, part="budgets")

    # ================================================================== docs, config
    @json_route("GET", "/api/v1/openapi.json", summary="OpenAPI 3 document of this API", public=True, tags=["ops"])
    def openapi_document(self, request):
        return openapi(AnalyticsService, "Agora analytics API", "1.0.0",
                       "Topics, similar-idea clusters, demographic segments and trends of a project's ideas "
                       "(the batch report of `python -m analytics analyze`, kept live from events).")

    @json_route("GET", "/api/v1/analytics/config", summary="Dashboard configuration (demo tenant, if any)",
                public=True, response_schema=schemas.ConfigOut, tags=["dashboard"])
    def config(self, request):
        return {"demo_tenant": DEMO_TENANT, "service": self.name}

    # ================================================================== API
    @staff_read(T + "/analytics/projects", summary="Projects with analytics (status, phases) of a tenant",
                response_schema=schemas.ProjectsOut, tags=TAGS)
    def projects(self, request, tenant):
        return self.app.projects(tenant)

    @staff_read(P + "/status", summary="Corpus and model status of a project", responses=NOT_FOUND,
                response_schema=schemas.StatusOut, tags=TAGS)
    def status(self, request, tenant, project):
        return self.app.status(tenant, project)

    @json_route("POST", P + "/retrain", summary="Queue a full retrain of the topic model (worker process)",
                request_schema=schemas.RetrainIn, response_schema=schemas.RetrainOut, status=202,
                responses=NOT_FOUND, roles=STAFF, tags=TAGS)
    def retrain(self, request, tenant, project, body):
        return 202, self.app.retrain(tenant, project, body)

    @json_route("POST", P + "/curation", summary="Curate topics: rename, merge, seed or split (recorded as events: "
                "they survive retrains and rebuilds)", request_schema=schemas.CurationIn,
                response_schema=schemas.CurationOut, status=202, responses=NOT_FOUND, roles=STAFF, tags=TAGS)
    def curate(self, request, tenant, project, caller, body):
        return 202, self.app.curate(tenant, project, caller, body)

    @staff_read(P + "/report", produces=(FORMAT_MEDIA["json"], FORMAT_MEDIA["xlsx"]),
                summary="The analytics report (topics, assignments, clusters, segments)",
                query_schema=schemas.ReportQuery, response_schema=schemas.ReportOut, responses=NOT_FOUND, tags=TAGS)
    def report(self, request, tenant, project, query):
        args = (tenant, project, query["phase"], query["measure"], query["dimension"])
        if _format(request, query, ("json", "xlsx")) == "xlsx":
            return _download(export.to_xlsx(self.app.report_sheets(*args)), export.XLSX_MIME,
                             f"analytics-{tenant}-{project}-report.xlsx")
        return self.app.report(*args)

    @staff_read(P + "/summary", summary="The input summary: cited sentences per topic and cluster, "
                "differences in plain sentences, junk set aside, k-selection scores",
                query_schema=schemas.TableQuery, response_schema=schemas.SummaryOut, responses=NOT_FOUND, tags=TAGS)
    def summary(self, request, tenant, project, query):
        return self.app.summary(tenant, project, query["phase"])

    @staff_read(P + "/report.html", summary="The input report as a self-contained HTML page",
                produces=("text/html",), query_schema=schemas.TableQuery, responses=NOT_FOUND, tags=TAGS)
    def report_html(self, request, tenant, project, query):
        negotiate(request, ["text/html"])
        page = self.app.report_page(tenant, project, query["phase"])
        return Response(page.encode("utf-8"), status=200, headers={
            "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"})

    @staff_read(P + "/report.pdf", summary="The input report as a PDF (headless Chromium, no network)",
                produces=("application/pdf",), query_schema=schemas.TableQuery, responses=NOT_FOUND, tags=TAGS)
    def report_pdf(self, request, tenant, project, query):
        from analytics.render import pdf_from_html
        negotiate(request, ["application/pdf"])
        page = self.app.report_page(tenant, project, query["phase"])
        pdf = tpool.execute(pdf_from_html, page)          # a subprocess wait: off the hub
        return _download(pdf, "application/pdf", f"analytics-{tenant}-{project}-report.pdf")

    def _table(self, request, tenant, project, table, q):
        rows, version = self.app.table(tenant, project, table, q["phase"], q.get("measure"), q.get("dimension"))
        stem = f"analytics-{tenant}-{project}-{table}" + (f"-{q['phase']}" if q["phase"] else "")
        fmt = _format(request, q)
        if fmt == "csv":
            return _download(export.to_csv(live.flat(rows)), export.CSV_MIME, stem + ".csv")
        if fmt == "xlsx":
            return _download(export.to_xlsx({table: live.flat(rows)}), export.XLSX_MIME, stem + ".xlsx")
        meta = {"tenant": tenant, "project": project, "phase": q["phase"], "version": version,
                "table": table, "n": len(rows)}
        meta.update({k: q[k] for k in ("measure", "dimension") if k in q})
        return {"meta": meta, "items": rows}

    @staff_read(P + "/topics", produces=TABLE_MEDIA, summary="Topics with labels, terms, counts and example ideas",
                query_schema=schemas.TableQuery, response_schema=schemas.TopicsOut, responses=NOT_FOUND, tags=TAGS)
    def topics(self, request, tenant, project, query):
        return self._table(request, tenant, project, "topics", query)

    @staff_read(P + "/assignments", produces=TABLE_MEDIA,
                summary="Topic of every idea (updated online as ideas arrive)", query_schema=schemas.TableQuery,
                response_schema=schemas.AssignmentsOut, responses=NOT_FOUND, tags=TAGS)
    def assignments(self, request, tenant, project, query):
        return self._table(request, tenant, project, "assignments", query)

    @staff_read(P + "/segments", produces=TABLE_MEDIA,
                summary="Topic × demographic segment table (chi-square, BH-adjusted)",
                query_schema=schemas.SegmentQuery, response_schema=schemas.SegmentsOut, responses=NOT_FOUND,
                tags=TAGS)
    def segments(self, request, tenant, project, query):
        return self._table(request, tenant, project, "segments", query)

    @staff_read(P + "/clusters", produces=TABLE_MEDIA,
                summary="Clusters of similar ideas (one row per member, near-duplicates)",
                query_schema=schemas.TableQuery, response_schema=schemas.ClustersOut, responses=NOT_FOUND,
                tags=TAGS)
    def clusters(self, request, tenant, project, query):
        return self._table(request, tenant, project, "clusters", query)

    @staff_read(P + "/near-duplicates", produces=TABLE_MEDIA, summary="Pairs of near-duplicate ideas",
                query_schema=schemas.TableQuery, response_schema=schemas.DuplicatesOut, responses=NOT_FOUND,
                tags=TAGS)
    def near_duplicates(self, request, tenant, project, query):
        return self._table(request, tenant, project, "near_duplicates", query)

    @staff_read(P + "/trends", produces=TABLE_MEDIA, summary="Ideas per topic per ISO week",
                query_schema=schemas.TableQuery, response_schema=schemas.TrendsOut, responses=NOT_FOUND, tags=TAGS)
    def trends(self, request, tenant, project, query):
        return self._table(request, tenant, project, "trends", query)

    # ================================================================== dashboard (static, offline)
    @json_route("GET", "/dashboard/", summary="Civil servants' dashboard (HTML; token pasted or ?token=, or demo)",
                public=True, tags=["dashboard"])
    def dashboard(self, request):
        return self._static("index.html")

    @json_route("GET", "/dashboard/<path:name>", summary="Dashboard static files (JS, CSS, vendored libraries)",
                public=True, tags=["dashboard"], responses={404: "no such file"})
    def dashboard_file(self, request, name):
        return self._static(name)

    def _static(self, name: str) -> Response:
        path = (STATIC / name).resolve()
        if STATIC not in path.parents or not path.is_file():
            raise NotFound(f"no dashboard file {name!r}")
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if mime.startswith("text/") or mime in ("application/javascript", "application/json"):
            mime += "; charset=utf-8"
        return Response(path.read_bytes(), status=200, headers={
            "Content-Type": mime, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                       "script-src 'self'; connect-src 'self'; frame-ancestors 'none'"})
