"""``paperfeed bounces``: the bounce mailbox, where bounce reports and spam complaints arrive."""

from __future__ import annotations

from paperfeed.cli_base import command_group, out, read_settings

bounces_app = command_group("Bounce reports and spam complaints from the bounce mailbox.")


@bounces_app.command("poll")
def bounces_poll() -> None:
    """Read the bounce mailbox's new reports once: bounce or unsubscribe whom they name."""
    from paperfeed.jobs.bounce_poll import bounce_poll
    from paperfeed.logs import configure_logging
    from paperfeed.services import Services

    settings = read_settings()
    configure_logging(settings.log_level)
    with Services.from_settings(settings) as services:
        summary = bounce_poll(services)
    out.print(summary.line(), highlight=False, soft_wrap=True)
