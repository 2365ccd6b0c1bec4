"""paperfeed: the day's trending research papers, ranked for each reader, by email and feed."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("paperfeed")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"
