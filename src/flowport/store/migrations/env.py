"""Alembic environment: the URL comes from the caller's Config, never from a file."""

from __future__ import annotations

from alembic import context

from flowport.store.database import create_engine
from flowport.store.tables import metadata

config = context.config
url = config.get_main_option("sqlalchemy.url")
assert url, "flowport passes the database URL in the Alembic config"
engine = create_engine(url, pool_size=1)
with engine.connect() as connection:
    context.configure(
        connection=connection, target_metadata=metadata,
        render_as_batch=engine.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
