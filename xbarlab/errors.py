"""Error types the application layer raises; the CLI prints any of them as one line."""


class XbarlabError(Exception):
    """Base of every error xbarlab reports to a user as a one-line message."""
