"""Consumer checks: did the readers of a rotated secret move to the new version?

- :mod:`.definitions` parses ``ROTATION_CONSUMERS`` / ``ROTATION_CONSUMERS_FILE``;
- :mod:`.base` is the contract of a check kind, :mod:`.registry` the kinds by name;
- one module per kind: :mod:`.app_service`, :mod:`.http_probe`, :mod:`.postgres_sessions`;
- :mod:`.composite` is the confirmer the engine calls, built by :mod:`.loader`.

Import from the modules themselves: this package imports nothing, so the engine can use
:mod:`.composite` without loading every check kind's SDK. See docs/consumers.md.
"""
