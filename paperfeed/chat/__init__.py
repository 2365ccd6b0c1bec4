"""Digests in chat and push services through apprise: ``render`` builds the markdown message,
``channel`` posts it and maps the service's answers to the outbox's outcomes."""
