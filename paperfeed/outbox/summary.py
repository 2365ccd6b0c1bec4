"""What a send pass did, per channel kind and in total, as counts and one line."""

from __future__ import annotations

from dataclasses import dataclass, field

_COUNTS = ("sent", "retried", "bounced", "failed", "expired", "cancelled")


@dataclass
class SendSummary:
    """What a send pass did (or, in a dry run, would do).

    ``bounced`` counts deliveries whose address is dead for good (an email address the
    server refused, a chat address the service refused). A summary over several channel
    kinds keeps each kind's own in ``by_kind``; its ``paused_reason`` names the kind.
    """

    sent: int = 0
    retried: int = 0
    bounced: int = 0
    failed: int = 0
    expired: int = 0
    cancelled: int = 0
    paused_reason: str | None = None
    dry_run: bool = False
    by_kind: dict[str, SendSummary] = field(default_factory=dict)

    @property
    def done(self) -> int:
        """Deliveries this pass finished with, one way or another."""
        return self.sent + self.retried + self.bounced + self.failed + self.expired + self.cancelled

    @property
    def ok(self) -> bool:
        """True unless a delivery failed or bounced for good, or the run paused."""
        return self.failed == 0 and self.bounced == 0 and self.paused_reason is None

    def add(self, other: SendSummary) -> None:
        """Count another pass of the same kind into this one (a worker's running totals)."""
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.paused_reason = other.paused_reason or self.paused_reason
        for kind, part in other.by_kind.items():
            self.by_kind.setdefault(kind, SendSummary(dry_run=part.dry_run)).add(part)

    def add_kind(self, kind: str, other: SendSummary) -> None:
        """Count one kind's pass into this total, keeping it in ``by_kind`` too."""
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.by_kind.setdefault(kind, SendSummary(dry_run=other.dry_run)).add(other)
        paused = [f"{k}: {s.paused_reason}" for k, s in self.by_kind.items() if s.paused_reason]
        self.paused_reason = "; ".join(paused) or None

    def line(self) -> str:
        """One line for logs and the CLI; the kinds' own counts when more than one did work."""
        verb = "would send" if self.dry_run else "sent"
        text = (
            f"{verb} {self.sent}, retried {self.retried}, bounced {self.bounced}, "
            f"failed {self.failed}; expired {self.expired}, cancelled {self.cancelled}"
        )
        busy = {k: s for k, s in self.by_kind.items() if s.done}
        if len(busy) > 1:
            text += " (" + "; ".join(f"{k}: {s.counts()}" for k, s in sorted(busy.items())) + ")"
        if self.dry_run:
            text += " (dry run: nothing sent or marked)"
        if self.paused_reason:
            text += f"; paused: {self.paused_reason}"
        return text

    def counts(self) -> str:
        """The non-zero counts, short (``sent 3, retried 1``)."""
        return ", ".join(f"{n} {getattr(self, n)}" for n in _COUNTS if getattr(self, n)) or "none"
