"""Temporary files of killed processes: each is named `.<name>.<pid>[.<thread>].tmp`, removed once its process is gone."""

from __future__ import annotations

import os
import re
from pathlib import Path

_STAGING = re.compile(r"\..+?\.(\d+)(\.\d+)?\.tmp(\.wal)?")


def remove_dead(folders: list[Path]) -> None:
    """Remove the staging files in these folders whose process no longer runs (they can never be renamed into place)."""
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            match = _STAGING.fullmatch(path.name)
            if match and path.is_file() and not _alive(int(match.group(1))):
                path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
