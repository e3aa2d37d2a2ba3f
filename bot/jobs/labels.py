"""The `ensure_labels` job: the AIOS labels a repository lacks, created once it installs AIOS."""

from __future__ import annotations

import structlog
from gidgethub import BadRequest

from bot.runtime.scope import job_scope
from bot.workitem.names import LABELS

log = structlog.get_logger(__name__)


async def ensure_labels(installation_id: int, repo: str) -> int:
    """Create the AIOS labels a repository lacks; existing labels are left as they are."""
    async with job_scope("ensure_labels", installation_id=installation_id, repo=repo) as ctx:
        async with ctx.github(installation_id) as gh:
            existing = {
                str(label["name"]).lower()
                async for label in gh.getiter(
                    "/repos/{+repo}/labels{?per_page}", {"repo": repo, "per_page": 100}
                )
            }
            created = 0
            for label in LABELS:
                if label.name.lower() in existing:
                    continue
                try:
                    await gh.post(
                        "/repos/{+repo}/labels",
                        {"repo": repo},
                        data={
                            "name": label.name,
                            "color": label.color,
                            "description": label.description,
                        },
                    )
                    created += 1
                except BadRequest as exc:
                    # 422 already_exists: someone created it since we listed; theirs stays.
                    if exc.status_code != 422:
                        raise
        log.info("labels ensured", created=created)
        return created
