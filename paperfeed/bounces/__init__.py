"""Bounces and complaints reported after the relay accepted a message.

Every source (a provider's webhook, the bounce mailbox) turns what it receives into
``ReportedEvent`` values; ``events.apply_reported`` matches them to deliveries and
subscribers and changes the subscribers' state. Nothing else changes state.
"""
