"""An emulated Microsoft Dataverse (Dynamics 365 Sales) environment.

``DataverseEmulator`` serves the Dataverse Web API (``/api/data/v9.2/``) on
127.0.0.1 over plain http and an emulated Microsoft identity platform tenant
over https (a test CA made with ``trustme``), for the tests and
``flitstack demo``. It follows Microsoft's documentation of the Web API: OData
headers, query and paging, create/update/upsert with ``@odata.bind`` and
alternate keys, the bulk messages, ``$batch`` with change sets, the metadata
API for tables, columns, keys and relationships, and the service protection
API limits. Each rule cites its page beside the code.
"""
from .emulator import DataverseEmulator
from .odata import ODataError

__all__ = ["DataverseEmulator", "ODataError"]
