"""Whatever shape a webhook body has, reading it yields reports or a refusal, never a crash.

The bodies are JSON made of the providers' own field names, so the parsers go deep into
them with every type in every place (a verified signature does not make a body well formed:
a provider may change it, or a leaked key may sign anything).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from paperfeed.bounces.events import ReportedEvent
from paperfeed.bounces.hook_payload import HookRefused, parse_json
from paperfeed.bounces.mailgun_hook import mailgun_events
from paperfeed.bounces.postmark_hook import postmark_events
from paperfeed.bounces.sendgrid_hook import sendgrid_events
from paperfeed.bounces.ses_notice import ses_events
from paperfeed.bounces.sns_signature import canonical_string

FIELDS = [
    # SES
    "notificationType", "eventType", "bounce", "complaint", "mail", "bounceType",
    "bouncedRecipients", "complainedRecipients", "emailAddress", "feedbackId", "timestamp",
    "headers", "name", "value", "commonHeaders", "messageId", "complaintFeedbackType",
    # SNS
    "Type", "Message", "MessageId", "Subject", "Timestamp", "TopicArn", "SubscribeURL", "Token",
    # Postmark
    "RecordType", "ID", "Email", "Content", "BouncedAt", "MessageID", "Details",
    # SendGrid
    "event", "email", "smtp-id", "sg_event_id", "sg_message_id", "type", "reason",
    # Mailgun
    "event-data", "id", "severity", "recipient", "message", "message-id", "delivery-status",
]  # fmt: skip
VALUES = [
    "Bounce", "Complaint", "Permanent", "Transient", "Notification", "SpamComplaint",
    "HardBounce", "bounce", "blocked", "dropped", "spamreport", "failed", "complained",
    "permanent", "temporary", "Bounced Address", "ada@example.org", "<paperfeed.x.delivery.1@d>",
    "2026-09-30T12:00:00Z", "Message-ID", "not-spam", "",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(VALUES),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.sampled_from(FIELDS), inner, max_size=6),
    ),
    max_leaves=30,
)


def _outcome(read: Callable[[], Sequence[object]]) -> Sequence[object] | int:
    """What ``read`` returned, or the status of the refusal it raised."""
    try:
        return read()
    except HookRefused as refusal:
        return refusal.status


def _reads(body: Any) -> None:
    record = body if isinstance(body, dict) else {}
    for outcome in (
        _outcome(lambda: ses_events(record, fallback_key="k")),
        _outcome(lambda: postmark_events(record)),
        _outcome(lambda: sendgrid_events(body)),
        _outcome(lambda: mailgun_events(record)),
        _outcome(lambda: [canonical_string(record)]),
    ):
        if isinstance(outcome, int):
            assert outcome == 400
            continue
        for result in outcome:
            assert isinstance(result, ReportedEvent | bytes)
            if isinstance(result, ReportedEvent):
                assert result.event_key
                assert result.email or result.message_id


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_any_json_of_their_field_names_reads_as_reports_or_a_400(body: Any) -> None:
    _reads(body)
    _reads({"event-data": body, "bounce": body, "mail": body, "complaint": body})


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_parse_as_json_or_a_400(body: bytes) -> None:
    outcome = _outcome(lambda: [parse_json(body)])
    assert outcome == 400 or isinstance(outcome, list)
