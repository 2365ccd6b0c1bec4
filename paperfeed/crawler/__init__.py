"""Crawling Hugging Face Daily Papers: HTTP, parsing, politeness. Knows nothing of the database."""
