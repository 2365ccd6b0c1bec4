"""The errors paperfeed raises on purpose, so callers know what to catch.

Every message names the value, the reason and the fix. The CLI turns these into one line and
a non-zero exit; anything else is a bug and shows a traceback only with ``--debug``.

* PaperfeedError
  x ConfigError          a setting is missing or wrong (names the PAPERFEED_ variable)
  x StoreError           the database cannot be reached, created or migrated
  x CrawlError           Hugging Face answered something we cannot use for a day
    + SourceUnavailable  one source failed (HTTP or transport); the next source is tried
    + IncompleteListing  a parse found fewer papers than the page claims
    + SchemaDrift        the answer's shape is not what fixtures/hf/ shows
  x MailError            a mail cannot be rendered, built or handed over
    + TemplateError      a template or its MJML does not compile (a bug: fix the template)
    + UnsafeHeaderValue  a header value holds CR, LF or NUL (someone tried header injection)
    + UnknownPaper       a digest names a paper its day does not hold (a caller bug)
    + TransportError     the transport cannot be used at all (bad SMTP URL, outbox unwritable)
  x MissingExtra         an optional feature's extra (e.g. ``semantic``) is not installed
  x InputError           user input (an address, a time zone, a CSV row) is not usable
    + AlreadySubscribed  the address is on the list already
  x NotBuiltYet          a command whose issue has not landed
"""

from __future__ import annotations


class PaperfeedError(Exception):
    """Base of every error paperfeed raises deliberately."""


class ConfigError(PaperfeedError):
    """A setting is missing or has a value paperfeed cannot use."""


class StoreError(PaperfeedError):
    """The database cannot be reached, created or migrated."""


class CrawlError(PaperfeedError):
    """Hugging Face answered something unusable for a day."""


class SourceUnavailable(CrawlError):
    """One source (API, page props, cards) failed; the next one may still work."""


class IncompleteListing(CrawlError):
    """A parse yielded fewer papers than the page says it holds."""


class SchemaDrift(CrawlError):
    """The upstream answer no longer has the shape we parse."""


class MailError(PaperfeedError):
    """A mail cannot be rendered, built or handed over.

    Per-message failures (a 4xx, a 5xx, a full disk) are not raised: transports report them
    as outcomes so the caller can mark each delivery.
    """


class TemplateError(MailError):
    """A template or the MJML it produces does not compile."""


class UnsafeHeaderValue(MailError):
    """A value meant for a mail header holds a line break or NUL."""


class UnknownPaper(MailError):
    """A digest names a paper that its day's view does not hold."""


class TransportError(MailError):
    """The transport cannot be used at all: a bad SMTP URL or an unwritable outbox."""


class MissingExtra(PaperfeedError):
    """An optional feature was switched on but its extra is not installed."""


class InputError(PaperfeedError):
    """User input (an address, a time zone, a CSV row) cannot be used as given."""


class AlreadySubscribed(InputError):
    """The address is on the list already."""


class NotBuiltYet(PaperfeedError):
    """A command that exists in the CLI but whose work has not been built yet."""
