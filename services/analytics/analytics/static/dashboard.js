/* Agora analytics dashboard: plain JS + SVG, no external resources (works offline).
 * Token: ?token=… (moved to sessionStorage and removed from the address bar) or pasted into the page.
 * Demo: ?demo=1 (or the "Open the demo" button) reads the server's demo tenant without a token.
 */
(function () {
  "use strict";
  var TOKEN_KEY = "agora.analytics.token";
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

  function base() { return "/api/v1/tenants/" + encodeURIComponent(state.tenant); }
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
      history.replaceState(null, "", window.location.pathname + (rest ? "?" + rest : ""));
    }
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
    boot();
  }

  function boot() {
    showError("");
    var demo = new URLSearchParams(window.location.search).get("demo");
    var token = sessionStorage.getItem(TOKEN_KEY);
    fetch("/api/v1/analytics/config", { cache: "no-store" }).then(function (r) { return r.json(); })
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
        $("login").hidden = true; $("app").hidden = false; $("logout").hidden = !state.token;
        loadProjects();
      }).catch(function (e) { showLogin("Cannot reach the analytics service: " + e.message); });
  }

  function expired(who) { return who.exp && who.exp * 1000 < Date.now(); }

  // signed out: the sign-in card alone (nothing of the dashboard behind it), with the reason when there is one
  function showLogin(msg) {
    if (state.timer) { clearInterval(state.timer); state.timer = null; }
    $("app").hidden = true; $("logout").hidden = true; $("live").hidden = true; $("who").textContent = "";
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
    if (!state.project || state.loading) { return; }
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
      "); they are listed for moderators and not counted.") : "No post was set aside as junk.";
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

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
}());
