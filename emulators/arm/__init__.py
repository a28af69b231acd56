"""An emulated Azure Resource Manager: SQL logical servers, web apps, storage and Cosmos DB
accounts' keys, with RBAC and LROs.

Entry point: ``ArmEmulator.attach(stack)`` serves it at ``https://management.azure.com``
through an ``emulators.stack.AzureStack`` (bearer tokens checked by ``stack.identity``).

Modules: ``service`` (request checks in ARM's order, test helpers), ``sql``
(``Microsoft.Sql/servers`` and its operation status URLs), ``web`` (``Microsoft.Web/sites``:
app settings, Key Vault reference status, restart), ``storage`` and ``cosmos`` (account
keys: ``listKeys``, ``regenerateKey``), ``keys`` (what both share), ``blob_data`` and
``cosmos_data`` (the accounts' data planes), ``lro`` (long-running operations),
``rbac`` (built-in roles and scoped assignments), ``passwords`` (write-only password hashes and
Azure SQL's complexity rules), ``errors`` (ARM's error shape), ``routing``.
"""

from emulators.arm.service import HOST, ArmEmulator
from emulators.arm.sql import server_id
from emulators.arm.web import site_id

__all__ = ["HOST", "ArmEmulator", "server_id", "site_id"]
