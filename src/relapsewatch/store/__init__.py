"""The app database: SQLAlchemy models, Alembic migrations and the repository functions.

Nothing in the core imports this package; the web app and the command line use
:mod:`relapsewatch.store.repository` and :mod:`relapsewatch.store.db`.
"""
