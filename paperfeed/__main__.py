"""``python -m paperfeed`` runs the command line."""

from paperfeed.cli import app

app(prog_name="paperfeed")
