"""Agent transcripts as JSON lines under AIOS_DATA_DIR, with secrets redacted before writing."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bot.redact import redact

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def transcript_path(data_dir: Path, job_id: str) -> Path:
    return Path(data_dir) / "transcripts" / f"{_UNSAFE.sub('_', job_id)[:120] or 'run'}.jsonl"


class Transcript:
    """Appends one redacted JSON object per line; the file is private to the worker's user."""

    def __init__(self, path: Path, secrets: Iterable[str] = ()) -> None:
        self.path = path
        self._secrets = tuple(secrets)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file = os.fdopen(fd, "a", encoding="utf-8")

    def write(self, event: str, **fields: Any) -> None:
        line = json.dumps({"ts": round(time.time(), 3), "event": event, **fields}, default=str)
        self._file.write(redact(line, self._secrets) + "\n")
        self._file.flush()

    def close(self) -> None:
        self._file.close()
