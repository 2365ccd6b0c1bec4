"""Email out: MJML digests compiled once per day, filled per subscriber, sent at least once.

``views`` holds the plain values the sender fills; ``render`` and ``confirm`` turn them into
subject, text and HTML; ``message`` (reference) and ``bulk`` (fast) turn those into MIME bytes;
``smtp`` and ``files`` are the transports behind ``transport.Transport``.
"""
