"""Domain errors: what a use case refuses, said once in the domain's terms.

Use cases raise these without knowing about HTTP; the web layer answers every one of them as an
RFC 9457 problem document in one place (``spectral_shared.web.app``), so views carry no
``try/except`` blocks that translate refusals. A service's own refusal subclasses the one that
fits (``class TransitionRefused(Conflict)``) and sets its problem type and extensions.
"""

from __future__ import annotations

from typing import Any, ClassVar


class DomainError(Exception):
    """A refusal with the status and problem type it is answered with."""

    status: ClassVar[int] = 400
    title: ClassVar[str] = "Bad request"
    slug: ClassVar[str | None] = None

    def __init__(
        self,
        detail: str,
        *,
        title: str | None = None,
        slug: str | None = None,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problem_title = title or self.title
        self.problem_slug = slug or self.slug
        self.errors = errors
        self.headers = headers or {}
        self.extensions = extensions

    @property
    def message(self) -> str:
        return self.detail


class NotFound(DomainError):
    """Missing, or another organization's: both answer alike (404, never 403)."""

    status = 404
    title = "Not found"

    def __init__(self, what: str, **extensions: Any) -> None:
        super().__init__(f"No {what} with this id in your organization.", **extensions)
        self.what = what


class Conflict(DomainError):
    """The request collides with the state of things."""

    status = 409
    title = "Conflict"
    slug = "conflict"


class Forbidden(DomainError):
    """Allowed by role in general, refused for this case (one's own account, a higher role)."""

    status = 403
    title = "Forbidden"
    slug = "forbidden"


class RuleBroken(DomainError, ValueError):
    """One field's value breaks a rule beyond the request schema (a 422 pointing at the field)."""

    status = 422
    title = "Your request is not valid"
    slug = "validation-error"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(
            "One or more fields are invalid; see errors.",
            errors=[
                {"field": field, "pointer": f"/{field}", "code": "value_error", "message": message}
            ],
        )
        self.field = field
        self.reason = message

    @property
    def message(self) -> str:
        return self.reason

    def __str__(self) -> str:
        return self.reason


class UpgradeRequired(DomainError):
    """The organization's plan does not include this (402)."""

    status = 402
    title = "Upgrade required"
    slug = "upgrade-required"

    def __init__(self, detail: str, *, plan: str, title: str | None = None, **extensions: Any):
        super().__init__(detail, title=title, upgrade_required=True, plan=plan, **extensions)
        self.plan = plan


class ReadOnly(DomainError):
    """Billing made the organization read-only (unpaid past its grace period, canceled, paused):
    nothing new may be added; everything stays readable (402, with the reason and where to pay)."""

    status = 402
    title = "The organization is read-only"
    slug = "read-only"

    def __init__(self, reason: str | None, pay_url: str | None, *, refused: str) -> None:
        detail = f"{refused} {reason or 'Billing made the organization read-only.'}"
        super().__init__(detail, reason=reason, pay_url=pay_url, read_only=True)
        self.reason = reason
        self.pay_url = pay_url
