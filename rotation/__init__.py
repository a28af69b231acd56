"""The rotation engine: configuration, protocol, locking, sweeping.

Nothing in this package imports Azure Functions or anything from ``emulators/``.
"""
