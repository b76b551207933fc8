/* Agora analytics dashboard: plain JS + SVG, no external resources (works offline).
 * Token: ?token=… (moved to sessionStorage and removed from the address bar) or pasted into the page.
 * Demo: ?demo=1 (or the "Open the demo" button) reads the server's demo tenant without a token.
 * Pages: #analytics (default) and #moderation (the ideas service's moderation queue and the junk filter's list).
 * Served under a path prefix (the local front door's /proxy/analytics/dashboard/), the API calls keep that prefix.
 * The ideas service (moderation) is reached on the same origin only (the page's CSP allows connect-src 'self'):
 * ?ideas=<same-origin path or URL> (kept for the tab), else a config value `ideas_url` if the analytics config
 * serves one, else /proxy/ideas next to /proxy/analytics when the page is served through the front door.
 */
(function () {
  "use strict";
  var TOKEN_KEY = "agora.analytics.token";
  var IDEAS_KEY = "agora.dashboard.ideas";
  // "" when the analytics service serves the page itself; "/proxy/analytics" through the launcher's front door
  var API_ROOT = window.location.pathname.replace(/\/dashboard(\/.*)?$/, "");
  var PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#7b4173", "#3182bd", "#e6550d"];
  var SVGNS = "http://www.w3.org/2000/svg";
  var state = { token: null, tenant: null, demo: false, project: null, version: null, projects: [],
                known: {}, timer: null, loading: false };

  function $(id) { return document.getElementById(id); }
  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    if (attrs) { Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); }); }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    if (attrs) { Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); }); }
    if (text !== undefined && text !== null) { e.textContent = String(text); }
    return e;
  }
  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } return node; }
  function colour(topic) { return PALETTE[(topic || 0) % PALETTE.length]; }

  function showError(msg) {
    var inLogin = !$("login").hidden;
    var e = $(inLogin ? "login-error" : "error");
    e.textContent = msg || ""; e.hidden = !msg;
    if (!msg) { $("error").hidden = true; $("login-error").hidden = true; }
  }

  function decodeTenant(token) {
    try {
      var part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      while (part.length % 4) { part += "="; }
      var claims = JSON.parse(atob(part));
      if (!claims.tenant) { return null; }
      return { tenant: claims.tenant, sub: claims.sub, roles: claims.roles || [], exp: claims.exp };
    } catch (e) { return null; }
  }

  function base() { return API_ROOT + "/api/v1/tenants/" + encodeURIComponent(state.tenant); }
  function projectBase() { return base() + "/projects/" + encodeURIComponent(state.project) + "/analytics"; }

  function api(path) {
    var headers = { "Accept": "application/json" };
    if (state.token) { headers["Authorization"] = "Bearer " + state.token; }
    return fetch(path, { headers: headers, cache: "no-store" }).then(function (resp) {
      if (!resp.ok) {
        return resp.json().catch(function () { return {}; }).then(function (body) {
          var err = new Error((body && body.message) || ("HTTP " + resp.status));
          err.status = resp.status;
          throw err;
        });
      }
      return resp.json();
    });
  }

  function filters() {
    return { phase: $("f-phase").value, measure: $("f-measure").value, dimension: $("f-dimension").value };
  }
  function query(extra) {
    var f = filters();
    var q = [];
    if (f.phase) { q.push("phase=" + encodeURIComponent(f.phase)); }
    Object.keys(extra || {}).forEach(function (k) { q.push(k + "=" + encodeURIComponent(extra[k])); });
    return q.length ? "?" + q.join("&") : "";
  }

  // ------------------------------------------------------------------ start
  function start() {
    var params = new URLSearchParams(window.location.search);
    var fromUrl = params.get("token");
    if (fromUrl) {
      sessionStorage.setItem(TOKEN_KEY, fromUrl);
      params.delete("token");
      var rest = params.toString();
      history.replaceState(null, "", window.location.pathname + (rest ? "?" + rest : "") + window.location.hash);
    }
    rememberIdeasBase(params);
    $("token-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      var t = $("token-input").value.trim();
      var who = decodeTenant(t);
      if (!who) { showLogin("That is not a valid token: paste the whole token (three parts separated by dots)."); return; }
      if (expired(who)) { showLogin("That token has expired. Ask for a new one."); return; }
      sessionStorage.setItem(TOKEN_KEY, t);
      boot();
    });
    $("demo-button").addEventListener("click", function () {
      history.replaceState(null, "", window.location.pathname + "?demo=1");
      boot();
    });
    $("logout").addEventListener("click", function () {
      sessionStorage.removeItem(TOKEN_KEY);
      history.replaceState(null, "", window.location.pathname);
      window.location.reload();
    });
    ["f-phase", "f-measure", "f-dimension"].forEach(function (id) {
      $(id).addEventListener("change", function () { loadAll(); });
    });
    $("f-project").addEventListener("change", function () {
      state.project = $("f-project").value;
      fillPhases();
      loadAll();
    });
    document.addEventListener("click", onExportClick);
    document.addEventListener("click", onReportClick);
    initModeration();
    boot();
  }

  function boot() {
    showError("");
    var demo = new URLSearchParams(window.location.search).get("demo");
    var token = sessionStorage.getItem(TOKEN_KEY);
    fetch(API_ROOT + "/api/v1/analytics/config", { cache: "no-store" }).then(function (r) { return r.json(); })
      .then(function (cfg) {
        $("demo-button").hidden = !cfg.demo_tenant;
        if (token) {
          var who = decodeTenant(token);
          if (!who) { sessionStorage.removeItem(TOKEN_KEY); showLogin("That is not a valid token."); return; }
          if (expired(who)) { sessionStorage.removeItem(TOKEN_KEY); showLogin("Your token has expired. Ask for a new one."); return; }
          state.token = token; state.tenant = who.tenant; state.demo = false;
          $("who").textContent = who.sub + " · " + who.tenant + " · " + who.roles.join(", ");
        } else if (demo && cfg.demo_tenant) {
          state.token = null; state.tenant = cfg.demo_tenant; state.demo = true;
          $("who").textContent = "demo · " + cfg.demo_tenant;
        } else {
          showLogin(demo ? "Demo mode is not enabled on this server." : "");
          return;
        }
        state.config = cfg; state.signedIn = true;
        state.roles = state.token ? decodeTenant(state.token).roles : [];
        $("login").hidden = true; $("logout").hidden = !state.token; $("nav").hidden = false;
        document.body.removeAttribute("data-view");
        showView();
        loadProjects();
      }).catch(function (e) { showLogin("Cannot reach the analytics service: " + e.message); });
  }

  function expired(who) { return who.exp && who.exp * 1000 < Date.now(); }

  // signed out: the sign-in card alone (nothing of the dashboard behind it), with the reason when there is one
  function showLogin(msg) {
    state.signedIn = false;
    if (state.timer) { clearInterval(state.timer); state.timer = null; }
    $("app").hidden = true; $("moderation").hidden = true; $("nav").hidden = true; $("logout").hidden = true; $("live").hidden = true; $("who").textContent = "";
    $("error").hidden = true;
    $("login").hidden = false;
    showError(msg || "");
    document.body.setAttribute("data-view", "login");
    $("token-input").focus();
  }

  function loadProjects() {
    return api(base() + "/analytics/projects").then(function (body) {
      state.projects = body.items || [];
      var sel = clear($("f-project"));
      state.projects.forEach(function (p) {
        sel.appendChild(el("option", { value: p.project }, p.title + " (" + p.n_ideas + " ideas)"));
      });
      if (!state.projects.length) { showError("No project of tenant " + state.tenant + " has ideas yet."); return; }
      var wanted = new URLSearchParams(window.location.search).get("project");
      state.project = state.projects.some(function (p) { return p.project === wanted; }) ? wanted
        : (state.project || state.projects[0].project);
      sel.value = state.project;
      fillPhases();
      loadAll();
      if (!state.timer) { state.timer = setInterval(poll, 1000); }
    }).catch(handleApiError);
  }

  function fillPhases() {
    var p = state.projects.filter(function (x) { return x.project === state.project; })[0];
    var sel = clear($("f-phase"));
    sel.appendChild(el("option", { value: "" }, "all phases"));
    ((p && p.phases) || []).forEach(function (ph) {
      sel.appendChild(el("option", { value: ph.phase_id }, ph.title + " (" + ph.kind + ")"));
    });
  }

  function handleApiError(e) {
    if (e.status === 401 || e.status === 403) {
      if (state.token) { sessionStorage.removeItem(TOKEN_KEY); state.token = null; }
      showLogin("Access refused: " + e.message + ". Paste a valid token of an admin or moderator of this tenant.");
    } else {
      showError("Could not load analytics: " + e.message);
    }
  }

  function poll() {
    if (!state.project || state.loading || view() !== "analytics") { return; }
    api(projectBase() + "/status").then(function (s) {
      $("live").hidden = false;
      if (s.version !== state.version) { loadAll(); }
    }).catch(function () { $("live").hidden = true; });
  }

  // ------------------------------------------------------------------ data
  function loadAll() {
    if (!state.project) { return; }
    state.loading = true;
    var f = filters();
    var pb = projectBase();
    Promise.all([
      api(pb + "/status"),
      api(pb + "/topics" + query()),
      api(pb + "/segments" + query({ measure: f.measure, dimension: f.dimension })),
      api(pb + "/trends" + query()),
      api(pb + "/clusters" + query()),
      api(pb + "/assignments" + query()),
      api(pb + "/summary" + query())
    ]).then(function (r) {
      showError("");
      state.version = r[0].version;
      var opt = $("f-project").selectedOptions[0];
      if (opt) { opt.textContent = r[0].title + " (" + r[0].n_ideas + " ideas)"; }
      renderKpis(r[0], r[1].items, r[5].items);
      state.summary = r[6];
      renderSummary(r[6]);
      renderTopics(r[1].items);
      renderHeatmap(r[2].items, r[1].items);
      renderTrends(r[3].items, r[1].items);
      renderClusters(r[4].items);
      renderAssignments(r[5].items);
      renderExports();
      document.body.setAttribute("data-version", String(state.version));
      document.body.setAttribute("data-loaded", "true");
    }).catch(handleApiError).then(function () { state.loading = false; });
  }

  function renderKpis(status, topics, assignments) {
    var k = clear($("kpis"));
    var model = status.model;
    [["ideas", assignments.length], ["supports", status.n_supports], ["topics", topics.length],
     ["model", model ? ("k=" + model.k + (model.trained_at ? " · " + model.trained_at.slice(0, 16).replace("T", " ") : ""))
       : (status.training ? "training…" : "not yet")]].forEach(function (kv) {
      var d = el("div", { "class": "kpi" }); d.appendChild(el("b", null, kv[1])); d.appendChild(document.createTextNode(kv[0]));
      k.appendChild(d);
    });
  }

  function renderSummary(s) {
    var list = clear($("differences"));
    var diffs = (s.summaries && s.summaries.differences) || [];
    if (!diffs.length) { list.appendChild(el("li", { "class": "empty" }, "No significant difference between groups.")); }
    diffs.slice(0, 12).forEach(function (d) { list.appendChild(el("li", null, d.sentence)); });
    $("min-cell").textContent = String((s.meta && s.meta.min_cell_size) || 5);
    var junk = s.junk || { count: 0 };
    $("junk").textContent = junk.count ? (junk.count + " posts set aside as junk or spam (" +
      Object.keys(junk.by_reason || {}).map(function (k) { return k.replace("_", " ") + ": " + junk.by_reason[k]; }).join(", ") +
      "); they are not counted.") : "No post was set aside as junk.";
    if (junk.count && state.token) {
      $("junk").appendChild(document.createTextNode(" Moderators review them on the "));
      $("junk").appendChild(el("a", { href: "#moderation" }, "Moderation page"));
      $("junk").appendChild(document.createTextNode("."));
    }
  }

  function topicSummary(topicId) {
    var s = state.summary && state.summary.summaries;
    return s ? (s.topics || []).filter(function (t) { return t.topic === topicId; })[0] : null;
  }

  function renderTopics(topics) {
    var box = clear($("topics"));
    if (!topics.length) { box.appendChild(el("p", { "class": "empty" }, "No topic model yet (it is trained once the project has enough ideas).")); return; }
    topics.forEach(function (t) {
      var card = el("div", { "class": "topic", "data-topic": t.topic });
      card.style.borderLeftColor = colour(t.topic);
      card.appendChild(el("span", { "class": "count" }, t.n_ideas + " ideas · " + Math.round(t.share * 100) + " %"));
      card.appendChild(el("h3", null, t.label));
      card.appendChild(el("div", { "class": "terms" }, t.terms));
      var summ = topicSummary(t.topic);
      var titles = (state.summary && state.summary.titles) || {};
      if (summ && summ.sentences.length) {
        summ.sentences.forEach(function (x) {
          var q = el("blockquote", { "class": "quote" }, x.text);
          q.appendChild(el("cite", null, "— " + (titles[x.idea_id] || "an idea") + (x.source === "comment" ? " (comment)" : "")));
          card.appendChild(q);
        });
      } else {
        var ul = el("ul");
        (t.examples || []).forEach(function (x) { ul.appendChild(el("li", null, x.title)); });
        card.appendChild(ul);
      }
      box.appendChild(card);
    });
  }

  function lift2colour(lift) {
    if (lift === null || lift === undefined) { return "#eeeeee"; }
    var v = Math.max(-1, Math.min(1, Math.log(Math.max(lift, 1e-6)) / Math.log(2) / 1.5));
    var r, g, b;
    if (v >= 0) { r = 255; g = Math.round(255 - 150 * v); b = Math.round(255 - 170 * v); }
    else { r = Math.round(255 + 170 * v); g = Math.round(255 + 110 * v); b = 255; }
    return "rgb(" + r + "," + g + "," + b + ")";
  }

  function renderHeatmap(rows, topics) {
    var box = clear($("heatmap"));
    if (!rows.length) { box.appendChild(el("p", { "class": "empty" }, "No demographic data for this measure and dimension.")); return; }
    var segs = [], tops = [], cell = {};
    rows.forEach(function (r) {
      if (segs.indexOf(r.segment) < 0) { segs.push(r.segment); }
      if (tops.indexOf(r.topic) < 0) { tops.push(r.topic); }
      cell[r.topic + "|" + r.segment] = r;
    });
    tops.sort(function (a, b) { return a - b; });
    var labels = {}; topics.forEach(function (t) { labels[t.topic] = t.label; });
    var cw = 90, ch = 26, left = 230, top = 34;
    var s = svg("svg", { width: left + cw * segs.length + 10, height: top + ch * tops.length + 10, role: "img",
                         "aria-label": "heat map of topics by segment", id: "heatmap-svg" });
    var versus = {}; rows.forEach(function (r) { if (r.versus) { versus[r.segment] = r.versus; } });
    segs.forEach(function (sg, j) {
      s.appendChild(svg("text", { x: left + j * cw + cw / 2, y: top - 10, "text-anchor": "middle" },
                        versus[sg] ? sg + " vs " + versus[sg] : sg));
    });
    tops.forEach(function (t, i) {
      var name = labels[t] || "";
      s.appendChild(svg("text", { x: left - 8, y: top + i * ch + ch / 2 + 4, "text-anchor": "end" },
                        name.length > 34 ? name.slice(0, 33) + "…" : name));
      segs.forEach(function (sg, j) {
        var r = cell[t + "|" + sg];
        var g = svg("g", { "class": "cell", "data-topic": t, "data-segment": sg, tabindex: "0", role: "img",
                           "data-significant": r && r.significant ? "true" : "false" });
        var rect = svg("rect", { x: left + j * cw + 1, y: top + i * ch + 1, width: cw - 2, height: ch - 2,
                                 fill: lift2colour(r ? r.lift : null), "class": r && r.significant ? "cell-sig" : "" });
        g.appendChild(rect);
        var segName = sg + (r && r.versus ? " vs " + r.versus : "");
        if (r && r.suppressed) {
          g.setAttribute("aria-label", (labels[t] || t) + " × " + segName + ": hidden (too few people)");
          g.appendChild(svg("title", null, (labels[t] || t) + " × " + segName + ": hidden (too few people)"));
          g.appendChild(svg("text", { x: left + j * cw + cw / 2, y: top + i * ch + ch / 2 + 4, "text-anchor": "middle" }, "–"));
        } else if (r) {
          var desc = (labels[t] || t) + " × " + segName + ": " + r.count + " of " + r.segment_total +
                     " (" + Math.round(r.share * 100) + " %), lift " + (r.lift === null ? "–" : r.lift.toFixed(2)) +
                     (r.p_adjusted === null || r.p_adjusted === undefined ? "" : ", adjusted p " + r.p_adjusted.toFixed(3)) +
                     (r.significant ? " — significant" : "");
          g.setAttribute("aria-label", desc);
          g.appendChild(svg("title", null, desc));
          g.appendChild(svg("text", { x: left + j * cw + cw / 2, y: top + i * ch + ch / 2 + 4, "text-anchor": "middle" },
                            (r.significant ? "★ " : "") + r.count));
        }
        s.appendChild(g);
      });
    });
    box.appendChild(s);
  }

  function renderTrends(rows, topics) {
    var box = clear($("trends"));
    if (!rows.length) { box.appendChild(el("p", { "class": "empty" }, "No dated ideas yet.")); return; }
    var weeks = [], series = {}, max = 1;
    rows.forEach(function (r) {
      if (weeks.indexOf(r.week) < 0) { weeks.push(r.week); }
      (series[r.topic] = series[r.topic] || {})[r.week] = r.n_ideas;
      max = Math.max(max, r.n_ideas);
    });
    weeks.sort();
    weeks = continuousWeeks(weeks);
    var w = 520, h = 220, l = 36, b = 30, t = 10, r = 10;
    var x = function (i) { return l + (weeks.length === 1 ? (w - l - r) / 2 : i * (w - l - r) / (weeks.length - 1)); };
    var y = function (v) { return t + (h - t - b) * (1 - v / max); };
    var s = svg("svg", { width: w, height: h, role: "img", "aria-label": "ideas per topic per week", id: "trends-svg" });
    s.appendChild(svg("line", { x1: l, y1: h - b, x2: w - r, y2: h - b, "class": "axis" }));
    s.appendChild(svg("line", { x1: l, y1: t, x2: l, y2: h - b, "class": "axis" }));
    [0, max].forEach(function (v) { s.appendChild(svg("text", { x: l - 6, y: y(v) + 4, "text-anchor": "end" }, v)); });
    var step = Math.max(1, Math.ceil(weeks.length / 6));
    weeks.forEach(function (wk, i) {
      if (i % step === 0) { s.appendChild(svg("text", { x: x(i), y: h - b + 16, "text-anchor": "middle" }, wk.slice(5))); }
    });
    var labels = {}; topics.forEach(function (tp) { labels[tp.topic] = tp.label; });
    var legend = el("div", { "class": "legend" });
    Object.keys(series).sort(function (a, b2) { return a - b2; }).forEach(function (topic) {
      var pts = weeks.map(function (wk, i) { return x(i) + "," + y(series[topic][wk] || 0); });
      s.appendChild(svg("polyline", { points: pts.join(" "), fill: "none", stroke: colour(+topic), "stroke-width": 2 }));
      weeks.forEach(function (wk, i) {
        var c = svg("circle", { cx: x(i), cy: y(series[topic][wk] || 0), r: 3, fill: colour(+topic) });
        c.appendChild(svg("title", null, (labels[topic] || topic) + " · week of " + wk + ": " + (series[topic][wk] || 0)));
        s.appendChild(c);
      });
      var item = el("span"); var sw = el("span", { "class": "swatch" }); sw.style.background = colour(+topic);
      item.appendChild(sw); item.appendChild(document.createTextNode(labels[topic] || ""));
      legend.appendChild(item);
    });
    box.appendChild(s); box.appendChild(legend);
  }

  function continuousWeeks(weeks) {
    // every Monday from the first to the last week, so that quiet weeks show as zero (at most two years)
    var out = [], d = new Date(weeks[0] + "T00:00:00Z"), end = new Date(weeks[weeks.length - 1] + "T00:00:00Z");
    while (d <= end && out.length < 105) { out.push(d.toISOString().slice(0, 10)); d.setUTCDate(d.getUTCDate() + 7); }
    return out.length < 105 ? out : weeks;
  }

  function renderClusters(rows) {
    var box = clear($("clusters"));
    if (!rows.length) { box.appendChild(el("p", { "class": "empty" }, "No clusters of similar ideas.")); return; }
    var groups = {}, order = [];
    rows.forEach(function (r) {
      if (!groups[r.cluster]) { groups[r.cluster] = []; order.push(r.cluster); }
      groups[r.cluster].push(r);
    });
    order.slice(0, 30).forEach(function (cid) {
      var g = groups[cid];
      var div = el("div", { "class": "cluster", "data-cluster": cid });
      div.appendChild(el("b", null, g[0].label + " "));
      div.appendChild(el("span", { "class": "muted" }, "(" + g[0].size + " ideas)"));
      var ul = el("ul");
      var shown = g.filter(function (r) { return r.representative; }).concat(
        g.filter(function (r) { return !r.representative; })).slice(0, 8);
      shown.forEach(function (r) {
        var li = el("li", null, r.title + (r.representative ? " (representative)" : ""));
        if (r.near_duplicate_of) {
          var other = g.filter(function (x) { return x.idea_id === r.near_duplicate_of; })[0];
          li.appendChild(el("span", { "class": "dup", title: "near-duplicate of " + (other ? other.title : "another idea") },
                            "near-duplicate " + Math.round(r.similarity * 100) + " %"));
        }
        ul.appendChild(li);
      });
      if (g.length > shown.length) { ul.appendChild(el("li", { "class": "muted" }, "… and " + (g.length - shown.length) + " more (see the export)")); }
      div.appendChild(ul);
      box.appendChild(div);
    });
  }

  function phaseTitle(id) {
    if (!id) { return ""; }
    var p = state.projects.filter(function (x) { return x.project === state.project; })[0];
    var ph = ((p && p.phases) || []).filter(function (x) { return x.phase_id === id; })[0];
    return ph ? ph.title : "";
  }

  function renderAssignments(rows) {
    var body = clear(document.querySelector("#assignments tbody"));
    var firstLoad = Object.keys(state.known).length === 0;
    rows.slice().reverse().forEach(function (r) {
      var tr = el("tr", { "data-idea": r.idea_id });
      if (!firstLoad && !state.known[r.idea_id]) { tr.className = "fresh"; }
      state.known[r.idea_id] = true;
      tr.appendChild(el("td", null, r.title));
      var td = el("td");
      if (r.topic !== null && r.topic !== undefined) {
        var sw = el("span", { "class": "swatch" }); sw.style.background = colour(r.topic); td.appendChild(sw);
        td.appendChild(document.createTextNode(r.topic_label || ""));
      } else { td.appendChild(el("span", { "class": "muted" }, "—")); }
      tr.appendChild(td);
      tr.appendChild(el("td", null, r.weight ? r.weight.toFixed(2) : ""));
      tr.appendChild(el("td", null, r.phase || phaseTitle(r.phase_id)));
      tr.appendChild(el("td", null, r.status || ""));
      tr.appendChild(el("td", null, (r.submitted_at || "").slice(0, 10)));
      body.appendChild(tr);
    });
  }

  // ------------------------------------------------------------------ exports
  function renderExports() {
    var f = filters();
    Array.prototype.forEach.call(document.querySelectorAll(".exports"), function (span) {
      var table = span.getAttribute("data-table");
      var extra = table === "segments" ? { measure: f.measure, dimension: f.dimension } : {};
      clear(span);
      var prefix = span.getAttribute("data-label");
      if (prefix) { span.appendChild(el("span", { "class": "muted" }, prefix)); }
      ["csv", "xlsx"].forEach(function (fmt) {
        var q = Object.assign({ format: fmt }, extra);
        var a = el("a", { href: projectBase() + "/" + table + query(q), "class": "export", "data-format": fmt,
                          download: "" }, fmt.toUpperCase());
        span.appendChild(a);
      });
    });
  }

  function onExportClick(ev) {
    var a = ev.target.closest ? ev.target.closest("a.export") : null;
    if (!a || !state.token) { return; }   // demo mode: the plain link works without a token
    ev.preventDefault();
    fetch(a.getAttribute("href"), { headers: { "Authorization": "Bearer " + state.token } }).then(function (resp) {
      if (!resp.ok) { throw new Error("HTTP " + resp.status); }
      var cd = resp.headers.get("Content-Disposition") || "";
      var m = /filename="([^"]+)"/.exec(cd);
      return resp.blob().then(function (blob) {
        var url = URL.createObjectURL(blob);
        var tmp = el("a", { href: url, download: m ? m[1] : "export" });
        document.body.appendChild(tmp); tmp.click(); tmp.remove();
        setTimeout(function () { URL.revokeObjectURL(url); }, 1000);
      });
    }).catch(function (e) { showError("Export failed: " + e.message); });
  }

  function onReportClick(ev) {
    var a = ev.target.closest ? ev.target.closest("a.report-link") : null;
    if (!a) { return; }
    ev.preventDefault();
    var kind = a.getAttribute("data-kind");
    var url = projectBase() + "/report." + kind + query();
    var headers = state.token ? { "Authorization": "Bearer " + state.token } : {};
    fetch(url, { headers: headers }).then(function (resp) {
      if (!resp.ok) { throw new Error("HTTP " + resp.status); }
      return resp.blob();
    }).then(function (blob) {
      var href = URL.createObjectURL(blob);
      if (kind === "html") { window.open(href, "_blank", "noopener"); return; }
      var tmp = el("a", { href: href, download: "analytics-report.pdf" });
      document.body.appendChild(tmp); tmp.click(); tmp.remove();
      setTimeout(function () { URL.revokeObjectURL(href); }, 5000);
    }).catch(function (e) { showError("Report failed: " + e.message); });
  }


  // ------------------------------------------------------------------ pages
  function view() { return window.location.hash === "#moderation" ? "moderation" : "analytics"; }

  function showView() {
    if (!state.signedIn) { return; }
    var v = view();
    $("app").hidden = v !== "analytics";
    $("moderation").hidden = v !== "moderation";
    $("nav-analytics").setAttribute("aria-current", v === "analytics" ? "page" : "false");
    $("nav-moderation").setAttribute("aria-current", v === "moderation" ? "page" : "false");
    $("skip").setAttribute("href", v === "moderation" ? "#moderation" : "#app");
    document.title = (v === "moderation" ? "Moderation" : "Agora analytics") + " — civil servants' dashboard";
    document.body.setAttribute("data-page", v);
    if (v === "moderation") { loadModeration(); }
    else if (state.project && !state.loading) { loadAll(); }
  }

  // ------------------------------------------------------------------ moderation (the ideas service's API)
  var mod = { project: null, tab: "open", cursor: null, pending: {}, projects: null, seq: 0 };
  var JUNK_REASONS = { scanner: "security-scanner probe or test post", url_only: "only links or numbers",
                       empty: "no text", mashing: "keyboard mashing", burst: "copy in a burst of identical posts" };
  var ACTION_DONE = { hide: "hidden", restore: "restored", dismiss: "dismissed" };

  function sameOrigin(url) {
    if (!url) { return null; }
    if (/^\/(?!\/)/.test(url)) { return url.replace(/\/+$/, ""); }
    try {
      var u = new URL(url, window.location.href);
      // the token goes along: never to another origin (the page's CSP would refuse it anyway)
      return u.origin === window.location.origin ? u.pathname.replace(/\/+$/, "") : null;
    } catch (e) { return null; }
  }

  function rememberIdeasBase(params) {
    var given = params.get("ideas");
    if (given === null) { return; }
    var ok = sameOrigin(given);
    if (ok !== null) { sessionStorage.setItem(IDEAS_KEY, ok); } else { sessionStorage.removeItem(IDEAS_KEY); }
    params.delete("ideas");
    var rest = params.toString();
    history.replaceState(null, "", window.location.pathname + (rest ? "?" + rest : "") + window.location.hash);
    if (ok === null) { state.ideasRefused = given; }
  }

  function ideasBase() {
    var stored = sessionStorage.getItem(IDEAS_KEY);
    if (stored !== null) { return stored; }
    var fromConfig = sameOrigin(state.config && state.config.ideas_url);
    if (fromConfig !== null) { return fromConfig; }
    var m = /^(.*)\/proxy\/[^\/]+$/.exec(API_ROOT);
    return m ? m[1] + "/proxy/ideas" : null;
  }

  function ideasTenant() { return ideasBase() + "/api/v1/tenants/" + encodeURIComponent(state.tenant); }

  function idemKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return "k" + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  function ideasCall(method, path, body) {
    var headers = { "Accept": "application/json", "Authorization": "Bearer " + state.token };
    var init = { method: method, headers: headers, cache: "no-store" };
    if (body) {
      headers["Content-Type"] = "application/json";
      headers["Idempotency-Key"] = idemKey();            // a retried click appends nothing twice
      init.body = JSON.stringify(body);
    }
    return fetch(ideasTenant() + path, init).then(function (resp) {
      return resp.json().catch(function () { return {}; }).then(function (doc) {
        if (!resp.ok) {
          var err = new Error((doc && doc.message) || ("HTTP " + resp.status));
          err.status = resp.status; throw err;
        }
        return doc;
      });
    });
  }

  function modMessage(msg) { $("m-message").textContent = msg || ""; $("m-message").hidden = !msg; }
  function modStatus(msg) { $("m-status").textContent = msg || ""; }

  function initModeration() {
    window.addEventListener("hashchange", showView);
    $("m-project").addEventListener("change", function () {
      mod.project = $("m-project").value; loadModeration();
    });
    $("m-refresh").addEventListener("click", function () { mod.projects = null; loadModeration(); });
    $("m-more").addEventListener("click", function () { loadQueue(true); });
    var tabs = Array.prototype.slice.call(document.querySelectorAll("#m-tabs [role=tab]"));
    tabs.forEach(function (tab, i) {
      tab.addEventListener("click", function () { selectTab(tab.getAttribute("data-state")); });
      tab.addEventListener("keydown", function (ev) {        // WAI-ARIA tabs: arrows, Home, End
        var j = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: tabs.length - 1 }[ev.key];
        if (j === undefined) { return; }
        ev.preventDefault();
        var next = tabs[(j + tabs.length) % tabs.length];
        next.focus(); selectTab(next.getAttribute("data-state"));
      });
    });
    $("moderation").addEventListener("click", onModerationClick);
    $("moderation").addEventListener("keydown", function (ev) {
      // Enter in a reason field: the item's first action
      if (ev.key !== "Enter" || !ev.target.classList.contains("m-reason")) { return; }
      ev.preventDefault();
      var first = ev.target.closest(".mod-item").querySelector("button.m-act");
      if (first) { first.click(); }
    });
  }

  function selectTab(tabState) {
    mod.tab = tabState;
    Array.prototype.forEach.call(document.querySelectorAll("#m-tabs [role=tab]"), function (t) {
      var on = t.getAttribute("data-state") === tabState;
      t.setAttribute("aria-selected", on ? "true" : "false");
      t.setAttribute("tabindex", on ? "0" : "-1");
    });
    loadQueue(false);
  }

  function loadModeration() {
    modMessage("");
    if (!state.token) { return refuseModeration("Moderation needs a signed-in moderator or admin: use " +
                                                "“Forget token” and paste a moderator's token."); }
    if (!state.roles.some(function (r) { return r === "moderator" || r === "admin"; })) {
      return refuseModeration("Your token has no moderator or admin role: moderation is not available to you.");
    }
    if (state.ideasRefused) {
      return refuseModeration("The ideas address " + state.ideasRefused + " is not on this page's origin: " +
                              "give ?ideas= as a path of this site (for example /proxy/ideas).");
    }
    if (ideasBase() === null) {
      return refuseModeration("This page does not know where the ideas service is. Open the dashboard through " +
                              "the platform's front door (…/proxy/analytics/dashboard/#moderation) or add " +
                              "?ideas=<path of the ideas service on this site>.");
    }
    var projects = mod.projects ? Promise.resolve(mod.projects)
      : ideasCall("GET", "/projects").then(function (body) { mod.projects = body.items || []; return mod.projects; });
    return projects.then(function (items) {
      var sel = clear($("m-project"));
      items.forEach(function (p) { sel.appendChild(el("option", { value: p.project_id }, p.title || p.project_id)); });
      if (!items.length) { refuseModeration("Tenant " + state.tenant + " has no project yet."); return; }
      var wanted = mod.project || state.project;
      mod.project = items.some(function (p) { return p.project_id === wanted; }) ? wanted : items[0].project_id;
      sel.value = mod.project;
      return Promise.all([loadQueue(false), loadJunk()]);
    }).catch(modFailed);
  }

  function refuseModeration(msg) {
    modMessage(msg);
    clear($("m-queue")); clear($("m-junk")); $("m-junk-count").textContent = "";
    document.body.setAttribute("data-moderation", "unavailable");
  }

  function modFailed(e) {
    if (e.status === 401) { return handleApiError(e); }
    modMessage(e.status === 403 ? "Access refused by the ideas service: " + e.message
      : "Could not reach the ideas service: " + e.message);
  }

  function pendingKey(type, id) { return type + ":" + id; }

  function loadQueue(more) {
    if (!more) { mod.cursor = null; }
    var seq = ++mod.seq, tab = mod.tab;
    var q = "?state=" + tab + "&limit=50&project_id=" + encodeURIComponent(mod.project) +
            (more && mod.cursor ? "&cursor=" + encodeURIComponent(mod.cursor) : "");
    document.body.setAttribute("data-moderation", "loading");
    return ideasCall("GET", "/moderation/queue" + q).then(function (page) {
      if (seq !== mod.seq) { return; }                     // a newer tab or project was asked for meanwhile
      var list = $("m-queue");
      if (!more) { clear(list); }
      var now = Date.now();
      var items = (page.items || []).filter(function (it) {
        // the queue is a read model: an item handled a moment ago may still show in its old state
        var p = mod.pending[pendingKey(it.target_type, it.target_id)];
        if (!p) { return true; }
        if (it.state === p.state || now - p.at > 30000) { delete mod.pending[pendingKey(it.target_type, it.target_id)]; return true; }
        return it.state === p.state;
      });
      items.forEach(function (it) { list.appendChild(queueItem(it)); });
      if (!list.children.length) {
        list.appendChild(el("li", { "class": "empty" }, { open: "Nothing waits for a moderator in this project.",
          hidden: "No hidden post in this project.", done: "Nothing handled yet in this project." }[tab]));
      }
      mod.cursor = page.next_cursor;
      $("m-more").hidden = !page.next_cursor;
      document.body.setAttribute("data-moderation", "loaded");
    }).catch(modFailed);
  }

  function when(iso) { return iso ? iso.slice(0, 16).replace("T", " ") : ""; }

  function actionsFor(st) {
    return st === "open" ? ["hide", "dismiss"] : st === "hidden" ? ["restore"] : ["hide"];
  }

  function reasonField(id, value, label) {
    var wrap = el("div", { "class": "reason" });
    var lab = el("label", { "for": id }, label || "Reason for your decision");
    var input = el("input", { id: id, "class": "m-reason", type: "text", maxlength: "500", autocomplete: "off",
                              placeholder: "e.g. advertising, insult, no breach of the rules" });
    if (value) { input.value = value; }
    wrap.appendChild(lab); wrap.appendChild(input);
    return wrap;
  }

  function actionButtons(type, id, actions, label) {
    var row = el("div", { "class": "actions" });
    actions.forEach(function (a) {
      var b = el("button", { type: "button", "class": "m-act" + (a === "hide" ? " danger" : ""), "data-action": a,
                             "aria-label": a.charAt(0).toUpperCase() + a.slice(1) + " " + label },
                 a.charAt(0).toUpperCase() + a.slice(1));
      row.appendChild(b);
    });
    var err = el("span", { "class": "m-error", role: "alert" });
    row.appendChild(err);
    return row;
  }

  function queueItem(it) {
    var li = el("li", { "class": "mod-item", "data-target-type": it.target_type, "data-target-id": it.target_id,
                        "data-state": it.state, "data-source": it.source || "flags" });
    var title = it.target_type === "comment" ? "Comment on “" + (it.idea_title || "an idea") + "”"
      : (it.idea_title || "(untitled idea)");
    var head = el("div", { "class": "mod-head" });
    head.appendChild(el("span", { "class": "kind kind-" + it.target_type }, it.target_type));
    if (it.source === "junk") { head.appendChild(el("span", { "class": "kind kind-junk" }, "junk filter")); }
    head.appendChild(el("h3", null, title));
    li.appendChild(head);
    var meta = el("p", { "class": "muted mod-meta" });
    meta.appendChild(el("b", { "class": "flag-count" }, it.flag_count + (it.flag_count === 1 ? " flag" : " flags")));
    meta.appendChild(document.createTextNode(
      (it.open_flags && it.open_flags !== it.flag_count ? " (" + it.open_flags + " new)" : "") +
      " · last " + when(it.last_flagged_at) + " · by " + (it.author_name || "citizen") +
      (it.hidden ? " · hidden" : "")));
    li.appendChild(meta);
    if (it.body) { li.appendChild(el("blockquote", { "class": "quote mod-body" }, it.body.length > 400 ? it.body.slice(0, 399) + "…" : it.body)); }
    var reasons = el("ul", { "class": "reasons", "aria-label": "reasons given" });
    (it.reasons || []).forEach(function (r) {
      reasons.appendChild(el("li", { "class": "reason-chip" }, (r.reason || "no reason given") +
                                                               (r.count > 1 ? " × " + r.count : "")));
    });
    li.appendChild(reasons);
    var fid = "r-" + it.target_type + "-" + it.target_id;
    li.appendChild(reasonField(fid, ""));
    li.appendChild(actionButtons(it.target_type, it.target_id, actionsFor(it.state), title));
    return li;
  }

  function loadJunk() {
    var note = $("m-junk-note");
    clear($("m-junk"));
    $("m-junk-count").textContent = "";
    var pb = base() + "/projects/" + encodeURIComponent(mod.project) + "/analytics/summary";
    return Promise.all([
      api(pb).catch(function (e) { if (e.status === 404) { return null; } throw e; }),
      ideasCall("GET", "/moderation/queue?state=hidden&limit=200&project_id=" + encodeURIComponent(mod.project))
    ]).then(function (r) {
      var list = $("m-junk");
      if (!r[0]) { list.appendChild(el("li", { "class": "empty" }, "The analytics service has no data for this project yet.")); return; }
      var junk = r[0].junk || { count: 0, items: [] };
      var hidden = {};
      (r[1].items || []).forEach(function (h) { if (h.target_type === "idea") { hidden[h.target_id] = true; } });
      $("m-junk-count").textContent = String(junk.count);
      $("m-junk-count").setAttribute("aria-label", junk.count + " posts");
      var by = junk.by_reason || {};
      note.setAttribute("data-count", String(junk.count));
      if (!junk.count) { list.appendChild(el("li", { "class": "empty" }, "The junk filter set nothing aside in this project.")); return; }
      list.setAttribute("aria-describedby", "m-junk-note");
      $("m-junk-title").setAttribute("title", Object.keys(by).map(function (k) { return (JUNK_REASONS[k] || k) + ": " + by[k]; }).join(", "));
      (junk.items || []).forEach(function (j) {
        var isHidden = !!hidden[j.id];
        var p = mod.pending[pendingKey("idea", j.id)];
        if (p && Date.now() - p.at < 30000) { isHidden = p.state === "hidden"; }
        var li = el("li", { "class": "mod-item", "data-target-type": "idea", "data-target-id": j.id,
                            "data-state": isHidden ? "hidden" : "open", "data-source": "junk" });
        var head = el("div", { "class": "mod-head" });
        head.appendChild(el("span", { "class": "kind kind-idea" }, "idea"));
        head.appendChild(el("h3", null, j.title || "(no title)"));
        li.appendChild(head);
        li.appendChild(el("p", { "class": "muted mod-meta" }, "Set aside: " + (JUNK_REASONS[j.reason] || j.reason) +
                                                             (isHidden ? " · hidden" : " · still visible")));
        li.appendChild(reasonField("rj-" + j.id, "junk filter: " + (JUNK_REASONS[j.reason] || j.reason)));
        li.appendChild(actionButtons("idea", j.id, isHidden ? ["restore"] : ["hide"], j.title || "this post"));
        list.appendChild(li);
      });
      if (junk.count > (junk.items || []).length) {
        list.appendChild(el("li", { "class": "muted" }, "… and " + (junk.count - junk.items.length) + " more"));
      }
    }).catch(modFailed);
  }

  function onModerationClick(ev) {
    var b = ev.target.closest ? ev.target.closest("button.m-act") : null;
    if (!b) { return; }
    var li = b.closest(".mod-item");
    var type = li.getAttribute("data-target-type"), id = li.getAttribute("data-target-id");
    var action = b.getAttribute("data-action");
    var input = li.querySelector(".m-reason"), err = li.querySelector(".m-error");
    var reason = input.value.trim();
    err.textContent = "";
    if (!reason) {
      err.textContent = "Give a reason first.";
      input.setAttribute("aria-invalid", "true"); input.focus();
      return;
    }
    input.removeAttribute("aria-invalid");
    Array.prototype.forEach.call(li.querySelectorAll("button"), function (x) { x.disabled = true; });
    var path = (type === "comment" ? "/comments/" : "/ideas/") + encodeURIComponent(id) + "/moderation";
    ideasCall("POST", path, { action: action, reason: reason }).then(function () {
      var newState = action === "hide" ? "hidden" : "done";
      mod.pending[pendingKey(type, id)] = { state: newState, at: Date.now() };
      var name = li.querySelector("h3").textContent;
      modStatus("“" + name + "” " + ACTION_DONE[action] + ".");
      // out of this list (the queue's read model follows in a moment); focus stays in the list
      var next = li.nextElementSibling || li.previousElementSibling;
      if (li.getAttribute("data-source") === "junk" && li.parentNode.id === "m-junk") {
        li.setAttribute("data-state", newState === "hidden" ? "hidden" : "open");
        li.querySelector(".mod-meta").textContent = li.querySelector(".mod-meta").textContent
          .replace(/ · (hidden|still visible)$/, newState === "hidden" ? " · hidden" : " · still visible");
        var row = li.querySelector(".actions"); row.parentNode.replaceChild(
          actionButtons("idea", id, newState === "hidden" ? ["restore"] : ["hide"], name), row);
        li.querySelector("button.m-act").focus();
        return;
      }
      li.parentNode.removeChild(li);
      var focusable = next && next.querySelector ? next.querySelector(".m-reason") : null;
      if (focusable) { focusable.focus(); } else { $("m-queue-title").setAttribute("tabindex", "-1"); $("m-queue-title").focus(); }
      if (!$("m-queue").children.length) {
        $("m-queue").appendChild(el("li", { "class": "empty" }, "Nothing left here."));
      }
    }).catch(function (e) {
      Array.prototype.forEach.call(li.querySelectorAll("button"), function (x) { x.disabled = false; });
      if (e.status === 401) { return handleApiError(e); }
      err.textContent = "Not done: " + e.message;
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
}());
