"""FlitStack connectors: read practice-management and CRM sources, propose and
apply field maps, and plan migrations into Odoo CRM or Dynamics 365 Sales.

This package never imports Odoo; the Odoo addon ``flitstack_migration`` imports it.
"""
__version__ = "0.1.0"
