"""Plain classes over an Odoo environment: loading, rollback, provisioning,
staff resolution.  No UI here; models and wizards call these."""
from . import loader  # noqa: F401
from . import rollback  # noqa: F401
from . import provisioning  # noqa: F401
from . import source_factory  # noqa: F401
