"""The five jobs, one module each; every one is a complete, idempotent pass over the database.

- ``crawl``: Hugging Face's lists into the store (the crawl schedule; ``paperfeed crawl``).
- ``embed``: vectors for what is new, hybrid ranker only (after each crawl; ``paperfeed embed``).
- ``compose``: the editions whose local send time has come (every few minutes; ``paperfeed
  compose``).
- ``send``: the outbox drained (every few minutes; ``paperfeed send``, ``paperfeed worker``).
- ``housekeeping``: expiry, pruning, planner statistics (daily; ``paperfeed tick
  --housekeeping``).

Each takes its parts from ``paperfeed.services.Services``; ``paperfeed.scheduler`` decides
when they run, the CLI runs them by hand. Nothing is imported here, so that importing one
job does not load the others.
"""
