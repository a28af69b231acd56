"""Local stand-ins for the Azure services the app uses, speaking their real wire protocols.

The real Azure SDKs talk to these over HTTPS at the real Azure host names (through a local
forward proxy and a local CA). Nothing in ``rotation/``, ``rotators/`` or ``function_app.py``
imports this package.
"""
