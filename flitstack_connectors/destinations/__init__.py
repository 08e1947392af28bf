"""Writers used outside Odoo: Dynamics 365 Sales through the Dataverse Web API."""
