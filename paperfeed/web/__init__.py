"""The web app: subscribe, confirm, preferences, unsubscribe, archive, editions, feeds, health.

``create_app(settings)`` in ``app.py`` builds it; nothing is built at import. Callers import
from the submodules.
"""
