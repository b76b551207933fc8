"""The analytics service's settings, from the environment (``agora.config.env``, the platform's one config helper).

``AGORA_ANALYTICS_MIN_IDEAS`` (10), ``AGORA_ANALYTICS_DEBOUNCE_S`` (0.5), ``AGORA_ANALYTICS_RETRAIN_INTERVAL_S``
(900), ``AGORA_ANALYTICS_WORKERS`` (1), ``AGORA_ANALYTICS_SEED`` (42), ``AGORA_ANALYTICS_K_CANDIDATES``
("2,3,4,5,6,8,10,12"), ``AGORA_ANALYTICS_SETTLE_S`` (5: a corpus of at most ``AGORA_ANALYTICS_SETTLE_MAX_IDEAS``
(5000) ideas that changed and then stayed quiet that long is retrained on everything, so its topics equal the batch
analysis), ``AGORA_ANALYTICS_PASSES`` (5), ``AGORA_ANALYTICS_DEMO_TENANT`` (unset: no demo; else that tenant's
analytics are readable without a token by the dashboard's demo mode).
"""
from __future__ import annotations

import dataclasses

from agora.config import env

from analytics.topics import TopicParams


def demo_tenant() -> str | None:
    """``AGORA_ANALYTICS_DEMO_TENANT``: the one tenant whose analytics anonymous callers may read (None: none)."""
    return env("AGORA_ANALYTICS_DEMO_TENANT", None)


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


@dataclasses.dataclass
class Settings:
    min_ideas: int = 10
    debounce_s: float = 0.5
    retrain_interval_s: float = 900.0
    workers: int = 1
    settle_s: float = 5.0
    settle_max_ideas: int = 5000
    params: TopicParams = dataclasses.field(default_factory=TopicParams)

    @classmethod
    def from_env(cls) -> "Settings":
        base = TopicParams()
        params = dataclasses.replace(
            base, seed=env("AGORA_ANALYTICS_SEED", base.seed, int),
            passes=env("AGORA_ANALYTICS_PASSES", base.passes, int),
            k_candidates=env("AGORA_ANALYTICS_K_CANDIDATES", base.k_candidates, _ints))
        return cls(min_ideas=env("AGORA_ANALYTICS_MIN_IDEAS", 10, int),
                   debounce_s=env("AGORA_ANALYTICS_DEBOUNCE_S", 0.5, float),
                   retrain_interval_s=env("AGORA_ANALYTICS_RETRAIN_INTERVAL_S", 900.0, float),
                   workers=max(1, env("AGORA_ANALYTICS_WORKERS", 1, int)),
                   params=params,
                   settle_s=env("AGORA_ANALYTICS_SETTLE_S", 5.0, float),
                   settle_max_ideas=env("AGORA_ANALYTICS_SETTLE_MAX_IDEAS", 5000, int))
