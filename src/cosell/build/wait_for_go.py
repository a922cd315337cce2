"""A dbt-duckdb plugin (dbt/profiles.yml): a dbt process started early waits here, before it opens the warehouse, for its go.

`cosell run` starts the night's `dbt build` while the raw gate runs (cosell.build.dbt.EarlyBuild),
so that dbt's start-up and parse take the other core instead of following the gate. dbt opens the
DuckDB file only after this hook returns: until the gate has passed and closed the warehouse, dbt
has not touched it. The go comes on a socket with the warehouse's dbt lock, which dbt then holds
as long as it runs (a held dbt holds nothing, so one whose caller died leaves nothing locked). When
the caller closes the socket instead (the gate failed, or it died), dbt leaves at once, untouched.
Without COSELL_DBT_GO_FD in the environment (every other dbt command) the plugin does nothing.
"""

from __future__ import annotations

import os
import socket

from dbt.adapters.duckdb.plugins import BasePlugin

from cosell.build.dbt import GO, GO_FD

STOPPED = 3  # dbt's exit status when its go never came

_lock: list[int] = []  # the dbt lock received with the go, open until dbt exits


class Plugin(BasePlugin):
    def update_connection_config(self, creds, config) -> None:
        """Called before each open of the database: the first one waits for the go."""
        descriptor = os.environ.get(GO_FD)
        if not descriptor or _lock:
            return
        with socket.socket(fileno=int(descriptor)) as channel:
            try:
                word, fds, _, _ = socket.recv_fds(channel, len(GO), 1)
            except OSError:
                word, fds = b"", []
        if word != GO or not fds:
            os._exit(STOPPED)  # nothing was opened: leave now
        _lock.extend(fds)
