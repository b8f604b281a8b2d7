"""Storage: SQLAlchemy 2 over SQLite (default ``./hpo.db``) or PostgreSQL; Alembic migrations."""

from hpo.storage.sql import DEFAULT_URL, SQLStorage, StudyWriter, open_storage, resolve_url

__all__ = ["DEFAULT_URL", "SQLStorage", "StudyWriter", "open_storage", "resolve_url"]
