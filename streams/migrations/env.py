"""Alembic environment of the read models.

The connection comes from ``config.attributes["connection"]`` (streams.db.migrate) or from
``-x url=...`` / ``BRIGHT_DATABASE_URL`` when alembic runs from the command line.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

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
    engine = create_engine(url)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run against a database")
run_migrations_online()
