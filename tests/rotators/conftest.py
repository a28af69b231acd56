"""Fixtures for the rotator tests.

The password-demanding PostgreSQL cluster (``scram_postgres``) comes from
``tests/support/pg_cluster.py``, loaded as a plugin by ``tests/conftest.py``; it is not
re-exported here, which would start a second cluster in the same session.
"""
