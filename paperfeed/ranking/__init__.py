"""Ranking: the interest language, the index over a day's papers, scores and their reasons.

Works on plain records (``Document``) and numpy/scipy arrays; knows nothing of the database,
email or HTTP. Callers import from the submodules, e.g. ``paperfeed.ranking.ranker``.
"""
