"""Digests in chat and push services through apprise: ``markdown`` builds the message,
``apprise_sender`` posts it and maps the service's answers to the outbox's outcomes."""
