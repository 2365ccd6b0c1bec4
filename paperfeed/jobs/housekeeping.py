"""The housekeeping job: expire unconfirmed sign-ups, prune old crawl logs and stale topic
vectors, refresh the planner's statistics.

When it runs: daily at 03:17 UTC in the daemon, and with ``paperfeed tick --housekeeping``
(cron mode: once a day is enough). Nothing else depends on it having run; it keeps the
database small and the people who never confirmed out of it.
"""

from __future__ import annotations

from datetime import timedelta

import structlog

from paperfeed.mailer.files import remove_mail_to
from paperfeed.services import Services
from paperfeed.store.cleanup import analyze, expire_pending, prune_crawl_runs
from paperfeed.store.db import session_scope
from paperfeed.store.embeddings import prune_topic_vectors

log = structlog.get_logger("paperfeed.scheduler")

KEEP_CRAWL_LOGS = timedelta(days=90)


def housekeeping(services: Services) -> str:
    """One pass; what it did, as one line."""
    settings, engine = services.settings, services.engine
    now = services.now()
    with session_scope(engine) as session:
        expired = expire_pending(
            session, now=now, older_than=timedelta(hours=settings.confirm_hours)
        )
        pruned = prune_crawl_runs(session, now=now, keep=KEEP_CRAWL_LOGS)
    if expired and settings.smtp_url is None:
        # Their confirmation mail sits in the file outbox: it goes with them.
        remove_mail_to(settings.outbox_dir, *expired)
    stale_topics = 0
    if services.corpus.hybrid is not None:
        # Imported here: the embed job loads the ranking code, needed with hybrid only.
        from paperfeed.jobs.embed import subscriber_topics

        topics = subscriber_topics(engine)
        with session_scope(engine) as session:
            stale_topics = prune_topic_vectors(session, keep=topics)
    analyze(engine)
    log.info(
        "housekeeping.done",
        signups_expired=len(expired),
        crawl_runs_pruned=pruned,
        topic_vectors_pruned=stale_topics,
    )
    return (
        f"{len(expired)} unconfirmed sign-ups expired, {pruned} crawl logs pruned, "
        f"{stale_topics} topic vectors pruned"
    )
