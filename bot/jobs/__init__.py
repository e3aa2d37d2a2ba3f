"""Jobs act: one module per step, and each RQ function is the step itself.

The catalog (`bot.runtime.catalog`) names every job's function. Jobs queued by AIOS 0.1 name
`bot.jobs.<name>`: module attribute lookup resolves those to the catalog's functions, so
work in flight during an upgrade is not lost. Drop the aliases after 0.2.
"""

from __future__ import annotations

from typing import Any

from rq.utils import import_attribute

from bot.runtime.catalog import BY_NAME


def __getattr__(name: str) -> Any:
    spec = BY_NAME.get(name)
    if spec is None:
        raise AttributeError(f"module 'bot.jobs' has no attribute {name!r}")
    return import_attribute(spec.path)
