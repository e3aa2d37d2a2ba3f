"""Disk gauges `/metrics` measures at scrape time: what AIOS keeps under its data directory
(workspaces, setup caches), its disk budget and floor, and what is free there.

Measured on the web process's machine, which is the workers' machine under `aios serve`
(one data directory). The walk runs in a thread, at most once a minute: a data directory
with many files must not stall the event loop or cost a scrape much.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import structlog
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from bot.environment.disk import BUDGET_VARIABLE, FLOOR_VARIABLE, DiskBudget
from bot.settings import SettingsError

log = structlog.get_logger(__name__)

MEASURE_EVERY_S = 60.0
"""Scrapes closer together than this reuse the last measurement."""


class DiskGauges(Collector):
    """The last measurement of the data directory's disk use, budget, floor and free space."""

    def __init__(self, data_dir: Path, environ: Mapping[str, str]) -> None:
        budget: DiskBudget | None
        try:
            budget = DiskBudget.from_env(environ, data_dir)
        except SettingsError as exc:
            # The workers refuse to start on it; the web still shows what is used and free.
            log.warning("disk budget not shown on /metrics", problem=str(exc))
            budget = None
        self.budget = budget
        self.disk = budget or DiskBudget(data_dir.absolute(), budget_bytes=0, floor_bytes=0)
        self.parts: dict[str, int] = {}
        self.free = 0
        self.measured_at: float | None = None

    async def refresh(self) -> None:
        now = time.monotonic()
        if self.measured_at is not None and now - self.measured_at < MEASURE_EVERY_S:
            return
        self.parts, self.free = await asyncio.to_thread(self._measure)
        self.measured_at = now

    def _measure(self) -> tuple[dict[str, int], int]:
        return self.disk.usage(), self.disk.free_bytes()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        if self.measured_at is None:
            return
        used = GaugeMetricFamily(
            "aios_disk_used_bytes",
            "Bytes AIOS keeps under its data directory: job workspaces and setup caches",
            labels=["part"],
        )
        for part, count in sorted(self.parts.items()):
            used.add_metric([part], count)
        yield used
        if self.budget is not None:
            yield GaugeMetricFamily(
                "aios_disk_budget_bytes",
                f"The most AIOS keeps in workspaces and setup caches ({BUDGET_VARIABLE}); "
                "past it, least recently used caches are evicted",
                value=self.budget.budget_bytes,
            )
            yield GaugeMetricFamily(
                "aios_disk_floor_bytes",
                f"No job starts while less than this is free ({FLOOR_VARIABLE})",
                value=self.budget.floor_bytes,
            )
        yield GaugeMetricFamily(
            "aios_disk_free_bytes",
            "Free bytes on the filesystem of the data directory (AIOS_DATA_DIR)",
            value=self.free,
        )
