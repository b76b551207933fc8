"""The summary a civil servant needs: per topic and per cluster, the most representative sentences (each citing its
idea), counts over time, and the significant demographic differences in plain sentences, in the tenant's language.

Extractive, no model download: a sentence's score is the weight its words carry in the topic (the topic's top
terms by p(w|t), or the cluster's summed TF-IDF), divided by √(its length + 1), so short sentences that are all
about the topic win over long ones that mention it once. Candidates are the sentences of the topic's most typical
ideas (highest topic weight) and of their comments (a topic's voice includes the discussion); at most one sentence
per idea, so the summary shows several voices. Sentences are cited as ``{"idea_id", "source": "idea"|"comment"}``.

Differences (:func:`sentence`): one sentence per significant cell, e.g. "People aged 20–40 supported ideas about
cycling 1.8× as often as others." The ratio compares the segment with everybody else (not with the average), for a
two-valued dimension with the other value ("Women … as often as men").
"""
from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from typing import Mapping

from analytics import junk as junkmod

LANGS = ("en", "nl", "fr", "de", "es", "da", "pl")
_SENT = re.compile(r"(?<=[.!?;])\s+|\n+")

WHO = {
    "age": {"en": "People aged {s}", "nl": "Mensen van {s} jaar", "fr": "Les personnes de {s} ans",
            "de": "Menschen von {s} Jahren", "es": "Las personas de {s} años", "da": "Personer på {s} år",
            "pl": "Osoby w wieku {s} lat"},
    "female": {"en": "Women", "nl": "Vrouwen", "fr": "Les femmes", "de": "Frauen", "es": "Las mujeres",
               "da": "Kvinder", "pl": "Kobiety"},
    "male": {"en": "Men", "nl": "Mannen", "fr": "Les hommes", "de": "Männer", "es": "Los hombres", "da": "Mænd",
             "pl": "Mężczyźni"},
    "other": {"en": "People of another gender", "nl": "Mensen met een ander gender",
              "fr": "Les personnes d'un autre genre",
              "de": "Menschen anderen Geschlechts", "es": "Las personas de otro género", "da": "Personer af andet køn",
              "pl": "Osoby innej płci"},
    "district": {"en": "Residents of {s}", "nl": "Inwoners van {s}", "fr": "Les habitants de {s}",
                 "de": "Einwohner von {s}", "es": "Los vecinos de {s}", "da": "Beboere i {s}",
                 "pl": "Mieszkańcy {s}"},
}
OTHERS = {"en": "others", "nl": "anderen", "fr": "les autres", "de": "andere", "es": "los demás",
          "da": "andre", "pl": "pozostali"}
VERB = {
    "ideas": {"en": "wrote about {t}", "nl": "schreven over {t}", "fr": "ont écrit sur {t}", "de": "schrieben über {t}",
              "es": "escribieron sobre {t}", "da": "skrev om {t}", "pl": "pisały o {t}"},
    "support": {"en": "supported ideas about {t}", "nl": "steunden ideeën over {t}",
                "fr": "ont soutenu des idées sur {t}", "de": "unterstützten Ideen zu {t}",
                "es": "apoyaron ideas sobre {t}", "da": "støttede idéer om {t}", "pl": "popierały pomysły o {t}"},
}
AS_OFTEN = {"en": "{x}× as often as {o}", "nl": "{x}× zo vaak als {o}", "fr": "{x} fois plus souvent que {o}",
            "de": "{x}-mal so oft wie {o}", "es": "{x} veces más que {o}", "da": "{x} gange så ofte som {o}",
            "pl": "{x} razy częściej niż {o}"}
LESS_OFTEN = {"en": "only {x}× as often as {o}", "nl": "maar {x}× zo vaak als {o}",
              "fr": "{x} fois moins souvent que {o}", "de": "nur {x}-mal so oft wie {o}",
              "es": "{x} veces menos que {o}", "da": "kun {x} gange så ofte som {o}",
              "pl": "{x} razy rzadziej niż {o}"}


def _num(x: float, lang: str) -> str:
    text = f"{x:.1f}"
    return text.replace(".", ",") if lang in ("nl", "fr", "de", "es", "da", "pl") else text


def who(dimension: str, segment: str, lang: str) -> str:
    lang = lang if lang in LANGS else "en"
    if dimension == "age_band":
        return WHO["age"][lang].format(s=segment.replace("-", "–"))
    if dimension == "gender":
        return WHO.get(segment, WHO["other"])[lang]
    return WHO["district"][lang].format(s=segment)


def sentence(row: Mapping, lang: str = "en") -> str | None:
    """The plain sentence of a significant cell (None when the row has no ratio to state)."""
    lang = lang if lang in LANGS else "en"
    ratio = row.get("ratio_vs_rest")
    if not ratio:
        return None
    subject = who(row["dimension"], str(row["segment"]), lang)
    others = OTHERS[lang]
    if row.get("versus"):
        others = who(row["dimension"], str(row["versus"]), lang)
        others = others[0].lower() + others[1:] if lang != "de" else others
    verb = VERB[row["measure"]][lang].format(t=row.get("topic_label") or row["topic"])
    if ratio >= 1:
        how = AS_OFTEN[lang].format(x=_num(ratio, lang), o=others)
    elif lang in ("fr", "es", "pl"):
        how = LESS_OFTEN[lang].format(x=_num(1 / ratio, lang), o=others)
    else:
        how = LESS_OFTEN[lang].format(x=_num(ratio, lang), o=others)
    return f"{subject} {verb} {how}."


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT.split(text or "") if len(s.strip()) >= 8]


def _week(value) -> str | None:
    import datetime as _dt

    t = junkmod.parse_time(value)
    if t is None:
        return None
    day = _dt.datetime.fromtimestamp(t, _dt.timezone.utc).date()
    return (day - _dt.timedelta(days=day.weekday())).isoformat()


def _pick(state, candidates, weights: Mapping[str, float], n: int) -> list[dict]:
    """Best sentence per idea among ``candidates`` = [(idea_id, source, text)], top ``n`` ideas."""
    best: dict[str, tuple[float, str, str]] = {}
    for iid, source, text in candidates:
        for sent in split_sentences(text)[:12]:
            toks = state.pipeline.analyze(sent, language=state.ideas[iid].analyzed.language).tokens
            if not toks:
                continue
            score = sum(weights.get(t, 0.0) for t in toks) / math.sqrt(len(toks) + 1)
            if score > 0 and (iid not in best or score > best[iid][0]):
                best[iid] = (score, source, sent)
    ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))[:n]
    return [{"text": s[:400], "idea_id": iid, "source": src} for iid, (_, src, s) in ranked]


def _candidates(state, ids):
    out = []
    for iid in ids:
        rec = state.ideas[iid]
        out.append((iid, "idea", rec.text))
        for ctext in rec.comment_texts.values():
            out.append((iid, "comment", ctext))
    return out


def summaries(state, report: Mapping, language: str = "en", times: Mapping[str, str] | None = None,
              per_topic: int = 3, pool: int = 25) -> dict:
    """The report's ``summaries`` section (see module docstring)."""
    lang = language if language in LANGS else "en"
    times = times or {}
    members: dict = defaultdict(list)
    for iid, a in report["assignments"].items():
        if a["topic"] is not None and iid in state.ideas:
            members[a["topic"]].append((a["weight"], iid))
    model = state.model if report["quality"].get("source") == "lda" else None
    topics_out = []
    for t in report["topics"]:
        ids = [iid for _, iid in sorted(members.get(t["id"], []), key=lambda wi: (-wi[0], wi[1]))]
        weights: dict[str, float] = {}
        internal = model.internal(t["id"]) if model is not None else None
        if internal is not None:
            weights = dict(model.top_terms(internal, 30))
        else:
            counts = Counter(tok for iid in ids for tok in state.ideas[iid].analyzed.tokens)
            total = sum(counts.values()) or 1
            weights = {tok: c / total for tok, c in counts.most_common(30)}
        weeks = Counter(w for w in (_week(times.get(iid)) for iid in ids) if w)
        topics_out.append({"topic": t["id"], "label": t["label"], "n_ideas": len(ids),
                           "sentences": _pick(state, _candidates(state, ids[:pool]), weights, per_topic),
                           "over_time": [{"week": w, "n_ideas": n} for w, n in sorted(weeks.items())]})
    clusters_out = []
    for c in report["clusters"][:50]:
        counts = Counter(tok for iid in c["ideas"] if iid in state.ideas for tok in state.ideas[iid].analyzed.tokens)
        total = sum(counts.values()) or 1
        weights = {tok: n / total for tok, n in counts.most_common(30)}
        ids = [c["representative"]] + [i for i in c["ideas"] if i != c["representative"]]
        clusters_out.append({"cluster": c["id"], "label": c["label"], "size": c["size"],
                             "sentences": _pick(state, _candidates(state, ids[:pool]), weights, per_topic)})
    differences = []
    for r in report["segments"]:
        if r.get("significant"):
            text = sentence(r, lang)
            if text:
                differences.append({"sentence": text, "measure": r["measure"], "dimension": r["dimension"],
                                    "segment": r["segment"], "topic": r["topic"], "ratio": r.get("ratio_vs_rest"),
                                    "p_adjusted": r["p_adjusted"]})
    differences.sort(key=lambda d: (d["p_adjusted"], d["sentence"]))
    return {"language": lang, "topics": topics_out, "clusters": clusters_out, "differences": differences}
