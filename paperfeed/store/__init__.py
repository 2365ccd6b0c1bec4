"""The store: SQLModel tables, engine and sessions, Alembic migrations, upserts, the outbox.

Knows nothing of HTTP, email or HTML: it takes plain records in and gives rows out.
"""
