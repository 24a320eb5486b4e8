"""History policy, retention and upkeep: what the settings say about keeping history,
and the background task (started by the app's lifespan) that rolls history up and
deletes what is past retention."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from dosi.ngsild.temporal import parse_duration
from dosi.settings import Settings
from dosi.storage.base import RetentionRule, TemporalStore
from dosi.storage.history import HistoryPolicy

log = logging.getLogger("dosi.retention")
_MONTH_MS = 2_629_746_000  # an average Gregorian month


def history_policy(settings: Settings) -> HistoryPolicy:
    """The store's history policy from the ``DOSI_HISTORY*`` settings."""
    return HistoryPolicy(
        enabled=settings.history,
        off_tenants=frozenset(settings.history_off_tenants),
        off_types=frozenset(settings.history_off_types),
        delete_with_entity=settings.history_delete_with_entity,
    )


def retention_rules(settings: Settings) -> list[RetentionRule]:
    """``DOSI_HISTORY_RETENTION`` as rules (calendar months count as average months)."""
    out = []
    for r in settings.history_retention:
        d = parse_duration(r.keep)
        out.append(RetentionRule(d.months * _MONTH_MS + d.ms, r.tenant, r.type))
    for p in settings.privacy:  # personal data: the declaration's retention, every tenant
        if p.keep:
            d = parse_duration(p.keep)
            out.append(RetentionRule(d.months * _MONTH_MS + d.ms, None, p.type))
    return out


async def retention_pass(store: TemporalStore, rules: list[RetentionRule], batch: int) -> int:
    """One retention run: returns how many instances were deleted."""
    return await store.enforce_retention(rules, int(time.time() * 1000), batch)


def run_history_upkeep(
    store: TemporalStore,
    settings: Settings,
    more_rules: Callable[[], Awaitable[list[RetentionRule]]] | None = None,
) -> asyncio.Task[None] | None:
    """Start the background loop that keeps history in shape: rollups every
    ``history_upkeep_interval`` seconds, retention every ``retention_interval`` (when
    rules are configured; ``more_rules``: rules read at each run, e.g. the retention
    of the datasets in the catalog). None when history is off."""
    if not settings.history:
        return None
    configured = retention_rules(settings)

    async def loop() -> None:
        last_retention = 0.0
        while True:
            now = time.time()
            try:
                await store.maintain_history(int(now * 1000))
                rules = configured + (await more_rules() if more_rules else [])
                if rules and now - last_retention >= settings.retention_interval:
                    last_retention = now
                    n = await retention_pass(store, rules, settings.retention_batch)
                    if n:
                        log.info("retention removed %d history instances", n)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("history upkeep failed")
            await asyncio.sleep(settings.history_upkeep_interval)

    return asyncio.create_task(loop(), name="dosi-history-upkeep")
