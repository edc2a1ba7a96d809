"""API keys for machines (issue #3 item 6)."""

__all__: list[str] = []
