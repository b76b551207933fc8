"""The analytics nameko service: store-driven subscription keeping topic models per (tenant, project), the HTTP API
serving the batch report's data per project, CSV/XLSX exports and the civil servants' dashboard (``/dashboard/``).

All model work happens off the eventlet hub (see :mod:`analytics.dependencies`). HTTP under
``/api/v1/tenants/<tenant>/projects/<project>/analytics/``; bearer JWT (agora.auth) with role ``admin`` or
``moderator`` for the token's tenant. When ``AGORA_ANALYTICS_DEMO_TENANT`` is set, that tenant's analytics are
readable without a token (demo mode of the dashboard; retraining still needs a token).
"""
from __future__ import annotations

import mimetypes
from pathlib import Path

from werkzeug.wrappers import Response

from agora.errors import NotFound
from agora.nameko import EventStoreDep, subscribe
from agora.web import (ObservableService, content_disposition, json_route, load_query, negotiate, openapi,
                       principal, read_json)

from analytics import export, live, schemas
from analytics.dependencies import SOURCES, AnalyticsEngine

CIVIL_SERVANTS = {"admin", "moderator"}
T = "/api/v1/tenants/<tenant>"
P = T + "/projects/<project>/analytics"
STATIC = Path(__file__).resolve().parent / "static"
NOT_FOUND = {404: "unknown project (no analytics yet)"}
TAGS = ["analytics"]
ERASURE = {"agora": ["PersonalDataForgotten"]}


FORMAT_MEDIA = {"json": "application/json", "csv": "text/csv", "xlsx": export.XLSX_MIME.split(";")[0]}
TABLE_MEDIA = tuple(FORMAT_MEDIA.values())


def _format(request, q, allowed=("json", "csv", "xlsx")) -> str:
    """The format to answer: ``?format=`` when ``Accept`` allows it, else the best of ``allowed`` for ``Accept``
    (406 naming what is available when nothing fits)."""
    explicit = request.args.get("format")
    offered = [FORMAT_MEDIA[explicit]] if explicit else [FORMAT_MEDIA[f] for f in allowed]
    media = negotiate(request, offered)
    return next(f for f, m in FORMAT_MEDIA.items() if m == media)


def _download(body: bytes, mime: str, filename: str) -> Response:
    return Response(body, status=200, mimetype=mime.split(";")[0], headers={
        "Content-Type": mime, "Content-Disposition": content_disposition(filename),
        "Cache-Control": "no-store"})


class AnalyticsService(ObservableService):
    name = "analytics"
    engine = AnalyticsEngine()
    store = EventStoreDep()

    # ================================================================== projection
    # One subscription (queue ``agora.sub.analytics.<source>``, the queues KEDA watches) per source service,
    # each in global order; supports that arrive before their idea wait in memory (analytics.live.Corpus).
    # Each also handles PersonalDataForgotten (Engine.forget), so none can write an erased pseudonym back.
    @subscribe("ideas", {"ideas": SOURCES["ideas"], **ERASURE}, batch=200)
    def on_idea_event(self, event, session):
        self.engine.handle(event, session, part="ideas")

    @subscribe("votes", {"votes": SOURCES["votes"], **ERASURE}, batch=200)
    def on_vote_event(self, event, session):
        self.engine.handle(event, session, part="votes")

    if "analytics" in SOURCES:
        @subscribe("curation", {"analytics": SOURCES["analytics"]}, batch=50)
        def on_curation_event(self, event, session):
            self.engine.handle(event, session)

    if "budgets" in SOURCES:
        @subscribe("budgets", {"budgets": SOURCES["budgets"], **ERASURE}, batch=200)
        def on_budget_event(self, event, session):
            self.engine.handle(event, session, part="budgets")

    # ================================================================== helpers
    def _auth(self, request, tenant):
        """Read routes are declared ``public`` for the route layer (a sent token is still checked there: tenant and
        roles); here, anonymous callers pass only for the demo tenant (``AGORA_ANALYTICS_DEMO_TENANT``)."""
        demo = self.engine.settings.demo_tenant
        if demo and tenant == demo and not request.headers.get("Authorization"):
            return None
        return principal(request, tenant, roles=CIVIL_SERVANTS)

    def _table(self, request, tenant, project, table, query=schemas.TableQuery):
        self._auth(request, tenant)
        q = load_query(request, query)
        c = self.engine.corpus(tenant, project)
        if table == "assignments":
            rows = self.engine.assignments(c, q["phase"])
        else:
            rows = self.engine.tables(c, q["phase"])[table]
        if table == "segments":
            rows = [r for r in rows if (not q.get("measure") or r["measure"] == q["measure"])
                    and (not q.get("dimension") or r["dimension"] == q["dimension"])]
        stem = f"analytics-{tenant}-{project}-{table}" + (f"-{q['phase']}" if q["phase"] else "")
        q["format"] = _format(request, q)
        if q["format"] == "csv":
            return _download(export.to_csv(live.flat(rows)), export.CSV_MIME, stem + ".csv")
        if q["format"] == "xlsx":
            return _download(export.to_xlsx({table: live.flat(rows)}), export.XLSX_MIME, stem + ".xlsx")
        meta = {"tenant": tenant, "project": project, "phase": q["phase"], "version": c.version,
                "table": table, "n": len(rows)}
        for k in ("measure", "dimension"):
            if k in q:
                meta[k] = q[k]
        return {"meta": meta, "items": rows}

    # ================================================================== docs, config
    @json_route("GET", "/api/v1/openapi.json", summary="OpenAPI 3 document of this API", public=True, tags=["ops"])
    def openapi_document(self, request):
        return openapi(AnalyticsService, "Agora analytics API", "1.0.0",
                       "Topics, similar-idea clusters, demographic segments and trends of a project's ideas "
                       "(the batch report of `python -m analytics analyze`, kept live from events).")

    @json_route("GET", "/api/v1/analytics/config", summary="Dashboard configuration (demo tenant, if any)",
                public=True, response_schema=schemas.ConfigOut, tags=["dashboard"])
    def config(self, request):
        return {"demo_tenant": self.engine.settings.demo_tenant, "service": self.name}

    # ================================================================== API
    @json_route("GET", T + "/analytics/projects", summary="Projects with analytics (status, phases) of a tenant",
                response_schema=schemas.ProjectsOut, auth_roles=sorted(CIVIL_SERVANTS), public=True, tags=TAGS)
    def projects(self, request, tenant):
        self._auth(request, tenant)
        return {"items": [c.status() for c in self.engine.projects(tenant)]}

    @json_route("GET", P + "/status", summary="Corpus and model status of a project", responses=NOT_FOUND,
                response_schema=schemas.StatusOut, auth_roles=sorted(CIVIL_SERVANTS), public=True, tags=TAGS)
    def status(self, request, tenant, project):
        self._auth(request, tenant)
        return self.engine.corpus(tenant, project).status()

    @json_route("POST", P + "/retrain", summary="Queue a full retrain of the topic model (worker process)",
                request_schema=schemas.RetrainIn, response_schema=schemas.RetrainOut, status=202,
                responses=NOT_FOUND, auth_roles=sorted(CIVIL_SERVANTS), tags=TAGS)
    def retrain(self, request, tenant, project):
        principal(request, tenant, roles=CIVIL_SERVANTS)
        body = read_json(request, schemas.RetrainIn)
        overrides = {k: v for k, v in body.items() if v is not None}
        if "k_candidates" in overrides:
            overrides["k_candidates"] = tuple(overrides["k_candidates"])
        c = self.engine.corpus(tenant, project)
        return 202, {"job": self.engine.request_retrain(c, overrides), "status": "queued"}

    @json_route("GET", P + "/report",
                produces=(FORMAT_MEDIA["json"], FORMAT_MEDIA["xlsx"]),
                summary="The analytics report (topics, assignments, clusters, segments)",
                query_schema=schemas.ReportQuery, response_schema=schemas.ReportOut, responses=NOT_FOUND,
                auth_roles=sorted(CIVIL_SERVANTS), public=True, tags=TAGS)
    def report(self, request, tenant, project):
        self._auth(request, tenant)
        q = load_query(request, schemas.ReportQuery)
        q["format"] = _format(request, q, ("json", "xlsx"))
        c = self.engine.corpus(tenant, project)
        if q["format"] == "xlsx":
            tables = dict(self.engine.tables(c, q["phase"]))
            tables["assignments"] = self.engine.assignments(c, q["phase"])
            tables["segments"] = [r for r in tables["segments"]
                                  if (not q["measure"] or r["measure"] == q["measure"])
                                  and (not q["dimension"] or r["dimension"] == q["dimension"])]
            return _download(export.to_xlsx({k: live.flat(tables[k]) for k in live.TABLES}), export.XLSX_MIME,
                             f"analytics-{tenant}-{project}-report.xlsx")
        return self.engine.report(c, q["phase"], q["measure"], q["dimension"])

    @json_route("GET", P + "/summary", summary="The input summary: cited sentences per topic and cluster, "
                "differences in plain sentences, junk set aside, k-selection scores",
                query_schema=schemas.TableQuery, response_schema=schemas.SummaryOut, responses=NOT_FOUND,
                auth_roles=sorted(CIVIL_SERVANTS), public=True,
                tags=TAGS)
    def summary(self, request, tenant, project):
        self._auth(request, tenant)
        q = load_query(request, schemas.TableQuery)
        c = self.engine.corpus(tenant, project)
        v = self.engine.report(c, q["phase"])
        titles = {iid: m.get("title") for iid, m in c.meta.items()}
        meta = {k: v["meta"].get(k) for k in ("n_ideas", "n_analysed", "n_supports", "n_comments", "language",
                                               "min_cell_size", "min_lift", "alpha", "fdr", "test", "phase")}
        return {"meta": dict(meta, tenant=tenant, project=project, title=c.title, version=c.version),
                "summaries": v["summaries"], "junk": v["junk"], "k_selection": v["k_selection"], "titles": titles}

    @json_route("GET", P + "/report.html", summary="The input report as a self-contained HTML page",
                produces=("text/html",),
                query_schema=schemas.TableQuery, responses=NOT_FOUND, auth_roles=sorted(CIVIL_SERVANTS), public=True,
                tags=TAGS)
    def report_html(self, request, tenant, project):
        self._auth(request, tenant)
        negotiate(request, ["text/html"])
        page = self._report_page(request, tenant, project)
        return Response(page.encode("utf-8"), status=200, headers={
            "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"})

    @json_route("GET", P + "/report.pdf", summary="The input report as a PDF (headless Chromium, no network)",
                produces=("application/pdf",),
                query_schema=schemas.TableQuery, responses=NOT_FOUND, auth_roles=sorted(CIVIL_SERVANTS), public=True,
                tags=TAGS)
    def report_pdf(self, request, tenant, project):
        from eventlet import tpool

        from analytics.render import pdf_from_html
        self._auth(request, tenant)
        negotiate(request, ["application/pdf"])
        page = self._report_page(request, tenant, project)
        pdf = tpool.execute(pdf_from_html, page)          # a subprocess wait: off the hub
        return _download(pdf, "application/pdf", f"analytics-{tenant}-{project}-report.pdf")

    def _report_page(self, request, tenant, project) -> str:
        from eventlet import tpool

        from analytics.render import html_report
        q = load_query(request, schemas.TableQuery)
        c = self.engine.corpus(tenant, project)
        v = self.engine.report(c, q["phase"])
        titles = {iid: m.get("title") for iid, m in c.meta.items()}
        return tpool.execute(html_report, v, c.title, titles)

    @json_route("POST", P + "/curation", summary="Curate topics: rename, merge, seed or split (recorded as events: "
                "they survive retrains and rebuilds)", request_schema=schemas.CurationIn,
                response_schema=schemas.CurationOut, status=202, responses=NOT_FOUND,
                auth_roles=sorted(CIVIL_SERVANTS), tags=TAGS)
    def curate(self, request, tenant, project):
        from agora.application import CommandRunner
        from agora.errors import ValidationFailed
        from agora.events.envelope import NewEvent

        who = principal(request, tenant, roles=CIVIL_SERVANTS)
        body = read_json(request, schemas.CurationIn)
        c = self.engine.corpus(tenant, project)
        sub = getattr(who, "sub", None) or (who.get("sub") if isinstance(who, dict) else None) or "staff"
        model = c.state.model
        known = {t["id"]: t for t in (model.topics(c.state.label_token) if model is not None else [])}
        action = body["action"]

        def need(topic):
            if topic not in known:
                raise ValidationFailed({"topic": [f"no topic {topic} in the current model"]},
                                       f"no topic {topic} in the current model")

        if action == "rename":
            need(body["topic"])
            data = {"topic": body["topic"], "name": body["name"], "terms": known[body["topic"]]["tokens"]}
            kind = "TopicRenamed"
        elif action == "merge":
            for t in body["topics"] + [body["into"]]:
                need(t)
            data = {"topics": body["topics"], "into": body["into"]}
            kind = "TopicsMerged"
        elif action == "seed":
            data = {"name": body["name"], "terms": body["terms"]}
            kind = "TopicSeeded"
        else:
            need(body["topic"])
            data = {"topic": body["topic"], "parts": body["parts"]}
            kind = "TopicSplit"
        data = dict(data, project_id=project, curated_by=str(sub))
        outcome = CommandRunner(self.store).run(tenant, f"curation-{project}", lambda _events: NewEvent(kind, data))
        positions = getattr(outcome, "positions", None) or []
        return 202, {"type": kind, "status": "recorded", "position": positions[-1] if positions else None}

    @json_route("GET", P + "/topics",
                produces=TABLE_MEDIA, summary="Topics with labels, terms, counts and example ideas",
                query_schema=schemas.TableQuery, response_schema=schemas.TopicsOut, responses=NOT_FOUND,
                auth_roles=sorted(CIVIL_SERVANTS), public=True, tags=TAGS)
    def topics(self, request, tenant, project):
        return self._table(request, tenant, project, "topics")

    @json_route("GET", P + "/assignments",
                produces=TABLE_MEDIA, summary="Topic of every idea (updated online as ideas arrive)",
                query_schema=schemas.TableQuery, response_schema=schemas.AssignmentsOut, responses=NOT_FOUND,
                auth_roles=sorted(CIVIL_SERVANTS), public=True, tags=TAGS)
    def assignments(self, request, tenant, project):
        return self._table(request, tenant, project, "assignments")

    @json_route("GET", P + "/segments",
                produces=TABLE_MEDIA, summary="Topic × demographic segment table (chi-square, BH-adjusted)",
                query_schema=schemas.SegmentQuery, response_schema=schemas.SegmentsOut, responses=NOT_FOUND,
                auth_roles=sorted(CIVIL_SERVANTS), public=True, tags=TAGS)
    def segments(self, request, tenant, project):
        return self._table(request, tenant, project, "segments", schemas.SegmentQuery)

    @json_route("GET", P + "/clusters",
                produces=TABLE_MEDIA, summary="Clusters of similar ideas (one row per member, near-duplicates)",
                query_schema=schemas.TableQuery, response_schema=schemas.ClustersOut, responses=NOT_FOUND,
                auth_roles=sorted(CIVIL_SERVANTS), public=True, tags=TAGS)
    def clusters(self, request, tenant, project):
        return self._table(request, tenant, project, "clusters")

    @json_route("GET", P + "/near-duplicates",
                produces=TABLE_MEDIA, summary="Pairs of near-duplicate ideas",
                query_schema=schemas.TableQuery, response_schema=schemas.DuplicatesOut, responses=NOT_FOUND,
                auth_roles=sorted(CIVIL_SERVANTS), public=True, tags=TAGS)
    def near_duplicates(self, request, tenant, project):
        return self._table(request, tenant, project, "near_duplicates")

    @json_route("GET", P + "/trends",
                produces=TABLE_MEDIA, summary="Ideas per topic per ISO week",
                query_schema=schemas.TableQuery, response_schema=schemas.TrendsOut, responses=NOT_FOUND,
                auth_roles=sorted(CIVIL_SERVANTS), public=True, tags=TAGS)
    def trends(self, request, tenant, project):
        return self._table(request, tenant, project, "trends")

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
