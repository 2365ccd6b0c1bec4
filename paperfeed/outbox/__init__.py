"""The channel-neutral outbox: deliveries claimed, handed to a channel, and marked.

``channel`` says what a channel promises; the outbox owns the ledger rules every channel
shares (claim, lease, expiry, cancel, attempts, waiting out a database outage).
"""
