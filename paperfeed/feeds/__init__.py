"""Feeds: the daily, personal and topic feeds as RSS 2.0 and Atom documents, built once per change.

Turns stored papers (and a subscriber's editions) into feed items, renders them with feedgen,
and caches the bytes with their ETag. Knows nothing of HTTP serving: the web app and the
``feeds export`` command call in here. Callers import from the submodules.
"""
