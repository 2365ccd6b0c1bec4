"""Mail as it arrives in a bounce mailbox, shaped like what real servers send.

Each builder takes the digest's Message-ID and recipient (from ``bounce_samples.sent_digest``)
and the report's date, and returns the mail's bytes (CRLF line ends, as IMAP stores them):

* ``postfix_unknown_user``: Postfix's DSN for 550 5.1.1, the original's headers attached
  as text/rfc822-headers (Postfix's default, ``bounce_size_limit`` aside);
* ``exim_unknown_user``: Exim's plain-text bounce (no DSN), ``X-Failed-Recipients`` and the
  original's headers quoted in the text;
* ``postfix_mailbox_full``: Postfix giving up after days of 452 4.2.2 (``Action: failed``
  with a temporary status: a soft bounce), the whole original as message/rfc822;
* ``delay_warning``: a DSN with ``Action: delayed`` (a soft bounce);
* ``yahoo_complaint``: an ARF report (RFC 5965) as Yahoo's complaint feedback loop sends it;
* ``microsoft_complaint``: an ARF report as Microsoft's JMRP sends it, the recipient redacted;
* ``auto_reply``: an out-of-office answer to a digest (not a bounce);
* ``broken_report``: a multipart/report whose boundary never appears (unreadable).
"""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime

FROM = "paperfeed <digest@example.org>"
BOUNCE_ADDRESS = "bounces@example.org"


def _mail(text: str) -> bytes:
    return text.lstrip("\n").replace("\n", "\r\n").encode()


def _original_headers(message_id: str, to: str, at: datetime) -> str:
    return f"""Return-Path: <{BOUNCE_ADDRESS}>
Received: from mail.example.org (mail.example.org [192.0.2.10])
\tby mx.example.net (Postfix) with ESMTPS id 4QZ3kX1yPzz9sV
\tfor <{to}>; {format_datetime(at)}
From: {FROM}
To: {to}
Subject: Your papers for today: 5 picks
Date: {format_datetime(at)}
Message-ID: {message_id}
List-Unsubscribe: <https://feed.example.org/u/abc>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="===============digest=="
"""


def postfix_unknown_user(message_id: str, to: str, at: datetime, *, n: int = 1) -> bytes:
    domain = to.split("@")[1]
    return _mail(f"""
Return-Path: <>
Received: by mail.example.org (Postfix)
\tid 4QZ3kY0f1Rz9sW; {format_datetime(at)}
Date: {format_datetime(at)}
From: MAILER-DAEMON@mail.example.org (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {BOUNCE_ADDRESS}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="4QZ3kY0f1Rz9sW.1700000000/mail.example.org"
Content-Transfer-Encoding: 8bit
Message-Id: <20260310120000.4QZ3kY0f1Rz9sW.{n}@mail.example.org>

This is a MIME-encapsulated message.

--4QZ3kY0f1Rz9sW.1700000000/mail.example.org
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mail.example.org.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

For further assistance, please send mail to postmaster.

If you do so, please include this problem report. You can
delete your own text from the attached returned message.

                   The mail system

<{to}>: host mx.{domain}[198.51.100.7] said: 550 5.1.1
    <{to}>: Recipient address rejected: User unknown in virtual mailbox
    table (in reply to RCPT TO command)

--4QZ3kY0f1Rz9sW.1700000000/mail.example.org
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.org
X-Postfix-Queue-ID: 4QZ3kY0f1Rz9sW
X-Postfix-Sender: rfc822; {BOUNCE_ADDRESS}
Arrival-Date: {format_datetime(at)}

Final-Recipient: rfc822; {to}
Original-Recipient: rfc822;{to}
Action: failed
Status: 5.1.1
Remote-MTA: dns; mx.{domain}
Diagnostic-Code: smtp; 550 5.1.1 <{to}>: Recipient address rejected: User
    unknown in virtual mailbox table

--4QZ3kY0f1Rz9sW.1700000000/mail.example.org
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers
Content-Transfer-Encoding: 8bit

{_original_headers(message_id, to, at)}
--4QZ3kY0f1Rz9sW.1700000000/mail.example.org--
""")


def exim_unknown_user(message_id: str, to: str, at: datetime) -> bytes:
    return _mail(f"""
Return-path: <>
Received: from Debian-exim by mx.example.net with local (Exim 4.96)
\tid 1r3xYz-0004Qa-2B
\tfor {BOUNCE_ADDRESS}; {format_datetime(at)}
X-Failed-Recipients: {to}
Auto-Submitted: auto-replied
From: Mail Delivery System <Mailer-Daemon@mx.example.net>
To: {BOUNCE_ADDRESS}
Content-Type: text/plain; charset=us-ascii
Subject: Mail delivery failed: returning message to sender
Message-Id: <E1r3xYz-0004Qa-2B@mx.example.net>
Date: {format_datetime(at)}

This message was created automatically by mail delivery software.

A message that you sent could not be delivered to one or more of its
recipients. This is a permanent error. The following address(es) failed:

  {to}
    SMTP error from remote mail server after RCPT TO:<{to}>:
    550 5.1.1 No such user here

------ This is a copy of the message, including all the headers. ------

{_original_headers(message_id, to, at)}
--===============digest==
Content-Type: text/plain; charset="utf-8"

Your papers for today.
--===============digest==--
""")


def postfix_mailbox_full(message_id: str, to: str, at: datetime, *, n: int = 1) -> bytes:
    domain = to.split("@")[1]
    return _mail(f"""
Return-Path: <>
Date: {format_datetime(at)}
From: MAILER-DAEMON@mail.example.org (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {BOUNCE_ADDRESS}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="7RkP2q3Lz.{n}/mail.example.org"
Message-Id: <20260310.7RkP2q3Lz.{n}@mail.example.org>

This is a MIME-encapsulated message.

--7RkP2q3Lz.{n}/mail.example.org
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mail.example.org.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

<{to}>: host mx.{domain}[198.51.100.9] said: 452 4.2.2 Mailbox full
    (in reply to RCPT TO command)

--7RkP2q3Lz.{n}/mail.example.org
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.org
X-Postfix-Queue-ID: 7RkP2q3Lz
Arrival-Date: {format_datetime(at)}

Final-Recipient: rfc822; {to}
Original-Recipient: rfc822;{to}
Action: failed
Status: 4.2.2
Remote-MTA: dns; mx.{domain}
Diagnostic-Code: smtp; 452 4.2.2 Mailbox full

--7RkP2q3Lz.{n}/mail.example.org
Content-Description: Undelivered Message
Content-Type: message/rfc822

{_original_headers(message_id, to, at)}
--===============digest==
Content-Type: text/plain; charset="utf-8"

Your papers for today.
--===============digest==--

--7RkP2q3Lz.{n}/mail.example.org--
""")


def delay_warning(message_id: str, to: str, at: datetime) -> bytes:
    return _mail(f"""
Date: {format_datetime(at)}
From: MAILER-DAEMON@mail.example.org (Mail Delivery System)
Subject: Delayed Mail (still being retried)
To: {BOUNCE_ADDRESS}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="delay.1"
Message-Id: <20260310.delay.1@mail.example.org>

--delay.1
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mail.example.org.

####################################################################
# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #
####################################################################

--delay.1
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.org

Final-Recipient: rfc822; {to}
Action: delayed
Status: 4.4.1
Diagnostic-Code: X-Postfix; connect to mx.example.net[198.51.100.9]:25: Connection
    timed out
Will-Retry-Until: {format_datetime(at)}

--delay.1
Content-Type: text/rfc822-headers

{_original_headers(message_id, to, at)}
--delay.1--
""")


def yahoo_complaint(message_id: str, to: str, at: datetime) -> bytes:
    return _mail(f"""
Return-Path: <feedback@arf.mail.yahoo.com>
From: Yahoo! Mail AntiSpam Feedback <feedback@arf.mail.yahoo.com>
Date: {format_datetime(at)}
Subject: FW: Your papers for today: 5 picks
To: {BOUNCE_ADDRESS}
MIME-Version: 1.0
Message-ID: <1710072000.3391.arf@arf.mail.yahoo.com>
Content-Type: multipart/report; report-type=feedback-report;
\tboundary="----=_Part_8812_1192.1710072000"

------=_Part_8812_1192.1710072000
Content-Type: text/plain; charset=us-ascii
Content-Transfer-Encoding: 7bit

This is an email abuse report for an email message received from IP 192.0.2.10 on
{format_datetime(at)}. For more information about this format please see
http://www.mipassoc.org/arf/.

------=_Part_8812_1192.1710072000
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: Yahoo!-Mail-Feedback/2.0
Version: 0.1
Original-Mail-From: <{BOUNCE_ADDRESS}>
Original-Rcpt-To: <{to}>
Received-Date: {format_datetime(at)}
Reported-Domain: example.org
Authentication-Results: mta1000.mail.gq1.yahoo.com  from=example.org; domainkeys=neutral
 (no sig);  from=example.org; dkim=pass (ok)

------=_Part_8812_1192.1710072000
Content-Type: message/rfc822
Content-Disposition: inline

{_original_headers(message_id, to, at)}
--===============digest==
Content-Type: text/plain; charset="utf-8"

Your papers for today.
--===============digest==--

------=_Part_8812_1192.1710072000--
""")


def microsoft_complaint(message_id: str, at: datetime) -> bytes:
    # JMRP's ARF reports redact the reader's address in the copy: only the Message-ID is left.
    return _mail(f"""
From: staff@hotmail.com
To: {BOUNCE_ADDRESS}
Subject: complaint about message from 192.0.2.10
Date: {format_datetime(at)}
Message-ID: <b1f0c6a2-3d55-4b8e-9d61-jmrp@complaints.outlook.com>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="jmrp_boundary_01"

--jmrp_boundary_01
Content-Type: text/plain; charset="us-ascii"

This is an email abuse report for an email message received from IP 192.0.2.10 on
{format_datetime(at)}.

--jmrp_boundary_01
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: Microsoft JMRP/1.0
Version: 1
Original-Mail-From: {BOUNCE_ADDRESS}
Arrival-Date: {format_datetime(at)}
Source-IP: 192.0.2.10
Reported-Domain: example.org

--jmrp_boundary_01
Content-Type: text/rfc822-headers

From: {FROM}
To: <redacted>
Subject: Your papers for today: 5 picks
Date: {format_datetime(at)}
Message-ID: {message_id}

--jmrp_boundary_01--
""")


def auto_reply(message_id: str, to: str, at: datetime) -> bytes:
    return _mail(f"""
From: {to}
To: {BOUNCE_ADDRESS}
Subject: Automatic reply: Your papers for today: 5 picks
Date: {format_datetime(at)}
Message-ID: <ooo.{at:%Y%m%d}@mail.example.net>
In-Reply-To: {message_id}
Auto-Submitted: auto-replied
X-Auto-Response-Suppress: All
Content-Type: text/plain; charset="utf-8"

Thank you for your message. I am out of the office until 20 March with no access to
email. For urgent matters please contact the lab office.
""")


def broken_report(to: str, at: datetime) -> bytes:
    # Says multipart/report but its parts are separated by another boundary than announced.
    return _mail(f"""
From: MAILER-DAEMON@relay.example.net
To: {BOUNCE_ADDRESS}
Subject: Delivery Status Notification (Failure)
Date: {format_datetime(at)}
Message-ID: <broken.1@relay.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="announced"

--something-else
Content-Type: message/delivery-status

Final-Recipient: rfc822; {to}
Action: failed
Status: 5.1.1

--something-else--
""")
