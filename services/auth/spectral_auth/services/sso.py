"""Single sign-on with WorkOS (issue #3 item 7)."""

__all__: list[str] = []
