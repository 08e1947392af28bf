"""The runner outside Odoo: a state store, the migration steps, rollback."""
