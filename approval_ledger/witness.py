"""`ledger witness serve`: a witness (`ledger.witness`) under gunicorn.

The witness is opened once in the master, so that a missing key or a wrong list of logs
stops the start with its reason; the workers fork from it holding no connection (the
witness opens one per request), so each request in any worker is checked and stored under
SQLite's one write lock. Nothing of the portal is imported: a witness runs on a machine that
has no ledger of its own.
"""

import sys
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from ledger.witness import Witness

# A request is small and quick (a note and at most 63 hashes); a few threads per worker
# serve the logs a witness has, and one that sends half a request holds only its own.
THREADS = 4


class _Gunicorn(BaseApplication):
    """gunicorn running the witness's WSGI application."""

    def __init__(self, witness: Witness, options: dict[str, Any]) -> None:
        self.witness = witness
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return self.witness.wsgi


def serve_witness(directory: Path, *, bind: str, workers: int) -> int:
    """Serve the witness of `directory` on `bind` until stopped."""
    witness = Witness.open(directory)
    print(f"witness:        {witness.cosigner.key.line()}")
    print(f"logs witnessed: {', '.join(sorted(witness.logs)) or 'none yet (add them to logs)'}")
    print(f"listening on:   http://{bind}/add-checkpoint")
    sys.stdout.flush()
    options = {
        "bind": bind,
        "workers": workers,
        "worker_class": "gthread",
        "threads": THREADS,
        "timeout": 30,
        "graceful_timeout": 10,
        "keepalive": 30,  # the log keeps its connection between checkpoints
        "accesslog": "-",
        "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss',
        "forwarded_allow_ips": "",
        "control_socket_disable": True,
    }
    _Gunicorn(witness, options).run()
    return 0
