"""Read-model database: engines, sessions and Alembic migrations.

``open_database(url)`` returns an engine on an up-to-date schema (``alembic upgrade head``);
``drop_read_models(engine)`` removes every read-model table (``alembic downgrade base``), which
``bright index rebuild`` does before indexing from the start; the member directory
(:mod:`streams.directory`) and the homes' thermal twins (``analytics/thermal/store.py``), which
are not chain data and cannot be rebuilt from it, stay.
SQLite gets WAL journaling and ``synchronous=NORMAL`` (a crash loses at most the last
transactions, never consistency), and a busy timeout so a reader (``bright index status``)
can run beside the runner.

Migrations are atomic: a whole ``upgrade`` (every revision it applies, and the revision stamp)
or ``downgrade`` is one transaction (:func:`migration_connection`), so a process killed at any
moment leaves the schema as it was before the command. PostgreSQL has transactional DDL; the
sqlite3 driver by default runs each ``CREATE TABLE`` outside any transaction (it only opens
one before ``INSERT``/``UPDATE``/``DELETE``), so for SQLite the migration's connection is put
in the driver's autocommit mode and wrapped in an explicit ``BEGIN IMMEDIATE ... COMMIT``.
A database that an older, non-atomic version left half-built (read-model tables but no
revision) is refused by :func:`migrate` with a pointer to ``bright index rebuild``, and
:func:`drop_read_models` removes what is left of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from streams.errors import DatabaseUrlError, MissingDatabaseError, ReadModelError
from streams.models import Base

ALEMBIC_INI = Path(__file__).resolve().parent / "alembic.ini"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str, *, must_exist: bool = False) -> Engine:
    """An engine for ``url`` (sqlite:///... or postgresql+psycopg://...).

    A SQLite file's folder is created, unless ``must_exist`` (for commands that only read):
    then a SQLite file that does not exist raises :class:`MissingDatabaseError` instead of
    becoming an empty database.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError and ValueError
        raise DatabaseUrlError(f"not a database URL: {url!r} ({exc})") from exc
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseUrlError(f"read models live in SQLite or PostgreSQL, not {parsed.drivername}")
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        if must_exist and not Path(parsed.database).is_file():
            raise MissingDatabaseError(parsed.database)
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def alembic_config(engine: Engine | None = None) -> Config:
    cfg = Config(str(ALEMBIC_INI))
    cfg.attributes["configure_logger"] = False
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return cfg


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in one transaction, committed when the block ends, rolled back if it
    raises (or never committed if the process dies): DDL included, on SQLite too.

    SQLite: the driver connection's ``isolation_level`` is set to ``None`` (the driver then
    never begins or commits by itself) for the block, and ``BEGIN IMMEDIATE`` takes the write
    lock at once, so two processes migrating one file wait for each other (busy timeout)
    instead of interleaving. Alembic sees a connection already in a transaction and leaves
    beginning and committing to this block.
    """
    with engine.connect() as conn:
        if engine.dialect.name != "sqlite":
            with conn.begin():
                yield conn
            return
        raw: Any = conn.connection.driver_connection  # sqlite3.Connection
        previous = raw.isolation_level
        raw.isolation_level = None
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        finally:
            raw.isolation_level = previous


def _half_built(conn: Connection) -> list[str]:
    """Read-model tables present while no revision is recorded (an interrupted non-atomic
    first migration of an older version)."""
    if MigrationContext.configure(conn).get_current_revision() is not None:
        return []
    return sorted(set(inspect(conn).get_table_names()) & set(Base.metadata.tables))


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (default: the newest), in one transaction."""
    cfg = alembic_config(engine)
    try:
        with migration_connection(engine) as conn:
            leftovers = _half_built(conn)
            if leftovers:
                raise ReadModelError(
                    f"{engine.url!r} holds read-model tables ({', '.join(leftovers)}) but no "
                    "schema revision: an older version's first migration was interrupted; "
                    "run `bright index rebuild` to drop them and index from the start"
                )
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except SQLAlchemyError as exc:
        raise ReadModelError(f"migrating {engine.url!r} to {revision} failed: {exc}") from exc


def drop_read_models(engine: Engine) -> None:
    """Remove every read-model table (``alembic downgrade base``, in one transaction), and
    what a half-built database holds of them. The member directory and the thermal twins are
    kept (not projections: their migrations' downgrades honour ``keep_directory``)."""
    cfg = alembic_config(engine)
    cfg.attributes["keep_directory"] = True
    try:
        with migration_connection(engine) as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")
            Base.metadata.drop_all(conn, checkfirst=True)
    except SQLAlchemyError as exc:
        raise ReadModelError(f"dropping the read models of {engine.url!r} failed: {exc}") from exc


def schema_revision(engine: Engine) -> str | None:
    """The schema's current Alembic revision (None: not migrated)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def open_database(url: str) -> Engine:
    """An engine on ``url`` with the schema migrated to the newest revision."""
    engine = make_engine(url)
    migrate(engine)
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)
