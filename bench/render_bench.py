"""Benchmark: personalised digests per second per core, compile once vs MJML per subscriber.

paperfeed compiles the day's MJML once (``compile_day``) and fills each subscriber's digest
from the pieces (``render_digest``: HTML, plain text, subject). The naive way runs Jinja and
mjml2html for every subscriber (here: ``compile_day`` over just their papers, then fill), on a
sample. Also timed: turning a rendered mail into MIME bytes, with the bulk shell
(``bulk.digest_mail``) and the naive way, every header through ``EmailMessage``
(``naive_mime``). Rates are per CPU second of this one process, i.e. per core; the DESIGN
target is >= 3,000 renders per second per core. JSON goes to bench/results/render.json.

    .venv/bin/python bench/render_bench.py [--subscribers 5000] [--naive 200]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from bench_results import write_results
from mail_sample import NOW, sample_day, sample_digests

from paperfeed.mailer.bulk import compile_shell, digest_mail
from paperfeed.mailer.message import (
    POLICY,
    Sender,
    list_unsubscribe_value,
    make_message_id,
    make_sender,
)
from paperfeed.mailer.render import compile_day, render_digest
from paperfeed.mailer.views import DayView, Pick, Recipient, RenderedMail, SubscriberDigest
from paperfeed.rating_links import EditionRatingSigner, edition_rating_base

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "render.json"
TARGET_PER_CORE = 3000.0


def timed(work: Callable[[], int]) -> dict[str, float]:
    """Run ``work`` (which returns how many items it did) and measure CPU and wall time."""
    cpu, wall = time.process_time(), time.perf_counter()
    count = work()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"count": count, "cpu_s": cpu, "wall_s": wall, "per_core_per_s": count / cpu}


def naive_render(day: DayView, digest: SubscriberDigest) -> RenderedMail:
    """Jinja + mjml2html for this one subscriber, over only their papers."""
    wanted = {p.paper_id for p in digest.picks} | set(digest.also_trending)
    own = dataclasses.replace(day, papers=tuple(p for p in day.papers if p.arxiv_id in wanted))
    return render_digest(compile_day(own), digest)


def naive_mime(
    rendered: RenderedMail,
    recipient: Recipient,
    *,
    sender: Sender,
    message_id: str,
    date: datetime,
) -> bytes:
    """A digest's bytes the way the ``email`` package builds them: every header parsed and
    refolded by ``headerregistry``, the parts encoded, then flattened (milliseconds a mail)."""
    message = EmailMessage(policy=POLICY)
    message["From"] = sender.from_header
    message["To"] = Address(display_name=recipient.name or "", addr_spec=recipient.email)
    message["Subject"] = rendered.subject
    message["Date"] = date
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message["List-Id"] = sender.list_id_header
    message["List-Unsubscribe"] = list_unsubscribe_value(recipient)
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html", cte="7bit")
    return message.as_bytes(policy=POLICY)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--naive", type=int, default=200, help="sample for the naive way")
    args = parser.parse_args()

    day = sample_day()
    # Every pick carries its place in the edition, so each gets its two rating links; the
    # one signature per mail (edition_rating_base) is made inside the timed render loops.
    digests = [
        dataclasses.replace(
            d, picks=tuple(Pick(p.paper_id, p.reasons, n) for n, p in enumerate(d.picks))
        )
        for d in sample_digests(day, args.subscribers)
    ]
    signer = EditionRatingSigner("bench-secret", clock=lambda: NOW)

    def rated(n: int, d: SubscriberDigest) -> SubscriberDigest:
        base = edition_rating_base("https://paperfeed.example", signer, n)
        return SubscriberDigest(d.recipient, d.picks, d.also_trending, base)

    sender = make_sender("paperfeed <digest@example.org>")
    compile_once = timed(lambda: (compile_day(day), 1)[1])
    compiled = compile_day(day)
    rendered: list[RenderedMail] = []

    def fast() -> int:
        rendered.extend(render_digest(compiled, rated(n, d)) for n, d in enumerate(digests))
        return len(digests)

    def naive() -> int:
        for d in digests[: args.naive]:
            naive_render(day, d)
        return int(args.naive)

    shell = compile_shell(sender)
    rows: list[dict[str, Any]] = []
    fast_run = timed(fast)
    naive_run = timed(naive)
    sample = list(zip(digests, rendered, strict=True))

    def bulk() -> int:
        for i, (d, mail) in enumerate(sample):
            message_id = make_message_id("delivery", i, domain=sender.domain)
            digest_mail(shell, mail, d.recipient, message_id=message_id, date=NOW)
        return len(sample)

    def reference() -> int:
        for i, (d, mail) in enumerate(sample[: args.naive]):
            naive_mime(
                mail,
                d.recipient,
                sender=sender,
                message_id=make_message_id("delivery", i, domain=sender.domain),
                date=NOW,
            )
        return min(int(args.naive), len(sample))

    bulk_run = timed(bulk)
    reference_run = timed(reference)

    def end_to_end() -> int:
        for i, d in enumerate(digests):
            message_id = make_message_id("delivery", i, domain=sender.domain)
            digest_mail(
                shell,
                render_digest(compiled, rated(i, d)),
                d.recipient,
                message_id=message_id,
                date=NOW,
            )
        return len(digests)

    both = timed(end_to_end)
    for name, run, base in (
        ("render: compile once, fill per subscriber", fast_run, naive_run),
        ("render: Jinja + mjml2html per subscriber (naive)", naive_run, naive_run),
        ("MIME: bulk shell (bulk.digest_mail)", bulk_run, reference_run),
        ("MIME: EmailMessage, every header parsed (naive)", reference_run, reference_run),
        ("render + bulk MIME, end to end", both, None),
    ):
        rows.append(
            {
                "what": name,
                "count": int(run["count"]),
                "per_core_per_s": run["per_core_per_s"],
                "wall_per_s": run["count"] / run["wall_s"],
                "x_faster_than_baseline": (
                    run["per_core_per_s"] / base["per_core_per_s"] if base else None
                ),
            }
        )
    sizes = [len(m.html) for m in rendered]
    text_sizes = [len(m.text.encode()) for m in rendered]
    print(f"compile_day (100 papers, once per day): {compile_once['wall_s'] * 1000:.1f} ms")
    print(f"HTML per digest: {min(sizes)}-{max(sizes)} bytes; text: {max(text_sizes)} bytes max")
    print()
    print(f"{'what':52} {'count':>6} {'/s per core':>12} {'/s wall':>10} {'x baseline':>10}")
    for row in rows:
        ratio = row["x_faster_than_baseline"]
        print(
            f"{row['what']:52} {row['count']:>6} {row['per_core_per_s']:>12,.0f} "
            f"{row['wall_per_s']:>10,.0f} {'' if ratio is None else f'{ratio:.1f}x':>10}"
        )
    met = rows[0]["per_core_per_s"] >= TARGET_PER_CORE
    print(f"\ntarget >= {TARGET_PER_CORE:,.0f} renders/s per core: {'met' if met else 'NOT met'}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    write_results(
        RESULTS,
        {
            "benchmark": "render",
            "subscribers": args.subscribers,
            "naive_sample": args.naive,
            "papers_per_day": len(day.papers),
            "compile_day_ms": compile_once["wall_s"] * 1000,
            "html_bytes": {"min": min(sizes), "max": max(sizes)},
            "rows": rows,
            "target_per_core": TARGET_PER_CORE,
            "target_met": met,
        },
    )


if __name__ == "__main__":
    main()
