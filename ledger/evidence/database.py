"""Database URLs (`sqlite:///path`, `postgresql://user:password@host:port/dbname`) and plain
DB-API connections to them, for readers that must not depend on the domain layer."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

# How long a new PostgreSQL connection may take (libpq's connect_timeout, per address).
CONNECT_TIMEOUT_SECONDS = 3


class DatabaseURLError(ValueError):
    """A database URL that is not one of the two supported forms."""


class DatabaseUnavailable(ConnectionError):
    """The database cannot be reached or does not answer now; the message (one line, never
    the password) says which database and why. What was being written may or may not have
    been stored when `outcome_unknown`; otherwise it was not."""

    def __init__(self, message: str, *, outcome_unknown: bool = False) -> None:
        super().__init__(message)
        self.outcome_unknown = outcome_unknown


@dataclass(frozen=True)
class DatabaseURL:
    url: str
    scheme: str
    sqlite_path: Path | None = None
    host: str = ""
    port: int = 5432
    user: str = ""
    password: str = ""
    dbname: str = ""

    @property
    def is_sqlite(self) -> bool:
        return self.scheme == "sqlite"

    @property
    def placeholder(self) -> str:
        return "?" if self.is_sqlite else "%s"

    @classmethod
    def parse(cls, url: str) -> "DatabaseURL":
        if url.startswith("sqlite:///"):
            path = url[len("sqlite:///") :]
            if not path:
                raise DatabaseURLError("sqlite:/// needs a file path, e.g. sqlite:///var/ledger.db")
            return cls(url, "sqlite", sqlite_path=Path(path))
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            raise DatabaseURLError(
                f"unsupported database URL {redact(url)!r}: use sqlite:///PATH or "
                "postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
            )
        dbname = parts.path.lstrip("/")
        if not (parts.hostname and parts.username and dbname):
            raise DatabaseURLError(
                f"{redact(url)!r} needs a user, a host and a database name: "
                "postgresql://USER:PASSWORD@HOST:PORT/DBNAME"
            )
        try:
            port = parts.port or 5432
        except ValueError as error:
            raise DatabaseURLError(f"{redact(url)!r}: {error}") from error
        return cls(
            url,
            "postgresql",
            host=parts.hostname,
            port=port,
            user=unquote(parts.username),
            password=unquote(parts.password or ""),
            dbname=unquote(dbname),
        )

    def connect(self, *, writable: bool = False) -> Any:
        """A DB-API connection in autocommit mode (transactions are begun explicitly).

        By default it is the verifier's, which only reads what is committed (on SQLite it
        cannot write at all); the ledger's own side tables ask for a `writable` one, which on
        SQLite may pass between threads, waits for the write lock and uses the write-ahead log.
        """
        if self.is_sqlite:
            import sqlite3

            assert self.sqlite_path is not None
            if writable:
                connection = sqlite3.connect(
                    self.sqlite_path, timeout=30, isolation_level=None, check_same_thread=False
                )
                connection.execute("PRAGMA journal_mode=WAL")
                return connection
            if not self.sqlite_path.exists():
                raise FileNotFoundError(f"no database at {self.sqlite_path}")
            return sqlite3.connect(f"file:{self.sqlite_path}?mode=ro", uri=True)
        import psycopg

        try:
            return psycopg.connect(
                host=self.host,
                port=self.port,
                user=self.user,
                password=self.password,
                dbname=self.dbname,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
            )
        except psycopg.OperationalError as error:
            raise self.unavailable(error) from None

    def unavailable(
        self, error: BaseException, *, outcome_unknown: bool = False
    ) -> DatabaseUnavailable:
        return unavailable(
            redact(self.url), error, password=self.password, outcome_unknown=outcome_unknown
        )


def unavailable(
    where: str, error: BaseException, *, password: str = "", outcome_unknown: bool = False
) -> DatabaseUnavailable:
    """`error` as a DatabaseUnavailable naming the database `where`, on one line, without
    the password (libpq does not print it; it is taken out all the same)."""
    reason = "; ".join(line.strip() for line in str(error).splitlines() if line.strip())
    if password:
        reason = reason.replace(password, "***")
    return DatabaseUnavailable(
        f"{where}: {reason or type(error).__name__}", outcome_unknown=outcome_unknown
    )


def redact(url: str) -> str:
    """The URL without its password, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
