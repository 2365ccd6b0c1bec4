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


class InputError(PaperfeedError):
    """User input (an address, a time zone, a CSV row) cannot be used as given."""


class AlreadySubscribed(InputError):
    """The address is on the list already."""


class NotBuiltYet(PaperfeedError):
    """A command that exists in the CLI but whose work has not been built yet."""
