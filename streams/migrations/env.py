"""Alembic environment of the read models.

The connection comes from ``config.attributes["connection"]`` (streams.db.migrate, which runs
the whole command in one transaction) or from ``-x url=...`` / ``BRIGHT_DATABASE_URL`` when
alembic runs from the command line, where :func:`streams.db.migration_connection` makes the
command one transaction too (SQLite's driver would otherwise commit each CREATE TABLE alone).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from streams.models import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url")
    if url is None:
        from streams.settings import streams_settings

        url = streams_settings().database_url
    from streams.db import make_engine, migration_connection

    engine = make_engine(url)
    with migration_connection(engine) as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run against a database")
run_migrations_online()
