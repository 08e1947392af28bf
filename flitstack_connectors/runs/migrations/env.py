"""Alembic environment for the state store; run programmatically by
:func:`flitstack_connectors.runs.store.upgrade` with an open connection.

Alembic executes this file during an upgrade; imported any other way (a walk over
the package's modules) there is no migration context and nothing to do."""
from alembic import context


def run_migrations(config) -> None:
    context.configure(connection=config.attributes["connection"], render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


try:
    _config = context.config
except AttributeError:  # not inside an Alembic command
    _config = None
if _config is not None:
    run_migrations(_config)
