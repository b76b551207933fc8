"""The input report as a self-contained HTML page (inline CSS, no script, no external resource) and as a PDF.

``html_report(report, title=..., titles=...)`` renders a report of :meth:`analytics.domain.CorpusState.report`:
how to read it, the significant differences in plain sentences, each topic with its cited summary sentences and
counts over time, the clusters, and the junk set aside. ``pdf_from_html(html)`` prints it with the Debian
``chromium`` already used by the dashboard tests (``--headless --print-to-pdf``; no network: the page loads
nothing). Both are plain functions; the service calls the PDF printer in a ``tpool`` thread (a subprocess wait).
"""
from __future__ import annotations

import html as _html
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Mapping

HOW_TO_READ = {
    "en": "How to read this: each idea is placed in the topic it is most about (concepts are matched across "
          "languages). A difference is listed only when it is large (at least 1.25× or at most 0.8×) and "
          "statistically reliable over the whole report (false discovery rate 5 %, each person counted as one "
          "unit however many ideas they backed). Groups smaller than {m} people are never shown.",
    "nl": "Zo leest u dit: elk idee staat bij het onderwerp waar het vooral over gaat (begrippen worden over talen "
          "heen herkend). Een verschil staat er alleen als het groot is (minstens 1,25× of hoogstens 0,8×) en "
          "statistisch betrouwbaar over het hele rapport (5 % valse ontdekkingen, elke persoon telt als één). "
          "Groepen kleiner dan {m} personen worden nooit getoond.",
    "fr": "Comment lire ce rapport : chaque idée est rangée dans le thème dont elle parle le plus (les notions sont "
          "reconnues d'une langue à l'autre). Une différence n'est citée que si elle est forte (au moins 1,25× ou au "
          "plus 0,8×) et fiable sur l'ensemble du rapport (taux de fausses découvertes 5 %, chaque personne compte "
          "pour une). Les groupes de moins de {m} personnes ne sont jamais montrés.",
}
HEAD = {"en": ("Input report", "Differences between groups", "Topics", "Clusters of similar ideas",
               "Set aside as junk or spam", "ideas", "No significant difference.", "Ideas per week"),
        "nl": ("Inspraakrapport", "Verschillen tussen groepen", "Onderwerpen", "Groepen van gelijkaardige ideeën",
               "Apart gezet als rommel of spam", "ideeën", "Geen significant verschil.", "Ideeën per week"),
        "fr": ("Rapport de participation", "Différences entre groupes", "Thèmes", "Groupes d'idées semblables",
               "Écarté comme indésirable", "idées", "Aucune différence significative.", "Idées par semaine")}

CSS = """body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:52rem;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.6rem}h2{font-size:1.2rem;border-bottom:2px solid #2a5d9f;padding-bottom:.2rem;margin-top:2rem}
h3{font-size:1.05rem;margin:1.2rem 0 .3rem}.note{background:#eef3fa;padding:.6rem .8rem;border-radius:4px}
blockquote{margin:.3rem 0 .3rem 1rem;padding-left:.6rem;border-left:3px solid #b9c9e0}cite{color:#555;
font-style:normal;font-size:.85rem}.muted{color:#555}table{border-collapse:collapse}td,th{padding:.1rem .5rem;
border-bottom:1px solid #ddd;text-align:left}@media print{body{margin:0}}"""


def _e(x) -> str:
    return _html.escape(str(x), quote=True)


def html_report(report: Mapping, title: str = "", titles: Mapping[str, str] | None = None) -> str:
    meta = report.get("meta", {})
    lang = (report.get("summaries") or {}).get("language") or meta.get("language") or "en"
    head = HEAD.get(lang, HEAD["en"])
    note = HOW_TO_READ.get(lang, HOW_TO_READ["en"]).format(m=meta.get("min_cell_size", 5))
    titles = titles or {}
    summ = report.get("summaries") or {}
    out = [f'<!doctype html><html lang="{_e(lang)}"><head><meta charset="utf-8"><title>{_e(head[0])} — '
           f'{_e(title)}</title><style>{CSS}</style></head><body>',
           f"<h1>{_e(head[0])}: {_e(title)}</h1>",
           f'<p class="muted">{meta.get("n_analysed", meta.get("n_ideas", 0))} {head[5]} · '
           f'{meta.get("n_supports", 0)} supports · {meta.get("n_comments", 0)} comments</p>',
           f'<p class="note">{_e(note)}</p>', f"<h2>{_e(head[1])}</h2>"]
    diffs = summ.get("differences") or []
    if diffs:
        out.append("<ul>" + "".join(f"<li>{_e(d['sentence'])}</li>" for d in diffs[:30]) + "</ul>")
    else:
        out.append(f"<p>{_e(head[6])}</p>")

    def cite(s):
        iid = s["idea_id"]
        name = titles.get(iid) or iid
        return (f'<blockquote>{_e(s["text"])}<br><cite>— {_e(name)} [{_e(iid)}]'
                f'{" (comment)" if s.get("source") == "comment" else ""}</cite></blockquote>')

    out.append(f"<h2>{_e(head[2])}</h2>")
    for t in summ.get("topics") or []:
        out.append(f"<h3>{_e(t['label'])} <span class=muted>({t['n_ideas']} {head[5]})</span></h3>")
        out.extend(cite(s) for s in t["sentences"])
        if t.get("over_time"):
            out.append(f"<p class=muted>{_e(head[7])}: " + ", ".join(
                f"{_e(w['week'])}: {w['n_ideas']}" for w in t["over_time"][-12:]) + "</p>")
    clusters = summ.get("clusters") or []
    if clusters:
        out.append(f"<h2>{_e(head[3])}</h2>")
        for c in clusters[:20]:
            out.append(f"<h3>{_e(c['label'])} <span class=muted>({c['size']} {head[5]})</span></h3>")
            out.extend(cite(s) for s in c["sentences"][:2])
    junk = report.get("junk") or {}
    out.append(f"<h2>{_e(head[4])}</h2><p>{junk.get('count', 0)} — "
               + ", ".join(f"{_e(k)}: {v}" for k, v in (junk.get("by_reason") or {}).items()) + "</p>")
    out.append("</body></html>")
    return "\n".join(out)


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def pdf_from_html(html: str, timeout: float = 120.0) -> bytes:
    """Print ``html`` to PDF with headless Chromium (no network needed: the page is self-contained)."""
    exe = chromium()
    if exe is None:
        raise RuntimeError("chromium is not installed (apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="agora-report-") as tmp:
        src = Path(tmp) / "report.html"
        dst = Path(tmp) / "report.pdf"
        src.write_text(html, encoding="utf-8")
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
               f"--user-data-dir={tmp}/profile", "--no-pdf-header-footer", f"--print-to-pdf={dst}",
               src.as_uri()]
        env = dict(os.environ, HOME=tmp)
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=timeout, env=env,
                       check=False)
        if not dst.exists() or dst.stat().st_size == 0:
            raise RuntimeError("chromium did not write the PDF")
        return dst.read_bytes()
