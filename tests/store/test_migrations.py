from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from flowport.store.migrate import current_revision, upgrade
from flowport.store.tables import metadata


def test_migrations_build_exactly_the_declared_schema(store, database_url):
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    assert current_revision(database_url) is not None


def test_upgrade_twice_is_harmless(database_url):
    before = current_revision(database_url)
    upgrade(database_url)
    assert current_revision(database_url) == before
