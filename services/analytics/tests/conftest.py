"""Shared fixtures: a small synthetic multilingual corpus with three planted themes."""
from __future__ import annotations

import random

import pytest

THEMES = {
    "parks": ["parque", "árboles", "jardín", "bancos", "sombra", "césped", "flores", "fuente", "verde", "plantas"],
    "traffic": ["tráfico", "coches", "semáforo", "aparcamiento", "calzada", "velocidad", "autobús", "carril",
                "peatones", "cruce"],
    "sport": ["polideportivo", "piscina", "fútbol", "baloncesto", "pista", "gimnasio", "deportes", "entrenamiento",
              "atletismo", "tenis"],
}


def make_corpus(n_per_theme: int = 40, seed: int = 1, words: int = 12) -> list[tuple[str, str, str]]:
    """[(id, theme, text)] — Spanish sentences drawing mostly from one theme's vocabulary."""
    rng = random.Random(seed)
    out = []
    for theme, vocab in THEMES.items():
        others = [w for t, v in THEMES.items() if t != theme for w in v]
        for i in range(n_per_theme):
            ws = [rng.choice(vocab) for _ in range(words)] + [rng.choice(others)]
            rng.shuffle(ws)
            out.append((f"{theme}-{i}", theme, "Queremos " + " ".join(ws) + " en el barrio."))
    return out


@pytest.fixture(scope="session")
def corpus():
    return make_corpus()
