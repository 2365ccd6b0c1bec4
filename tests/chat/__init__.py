"""Chat and push channels: rendering, posting through apprise, addresses, CLI and pages."""
