"""What both ways to sign in (tokens at ``POST /api/v1/auth/login``, a browser session at
``POST /api/v1/auth/session``) answer when the sign-in is refused."""

from __future__ import annotations

from spectral_auth import services
from spectral_shared.db import utcnow
from spectral_shared.web.problems import Problem


def login_problem(refused: services.LoginRefused) -> Problem:
    """Why a sign-in was refused, as the problem the client acts on (the same for tokens and
    browser sessions). Only refusals the right password reaches say more than 'invalid'."""
    if isinstance(refused, services.MfaRequired):
        return Problem(
            401,
            "Second factor required",
            detail="Send the code from your authenticator app as mfa_code (or a backup_code).",
            type_slug="mfa-required",
            mfa_required=True,
        )
    if isinstance(refused, services.MfaEnrollmentRequired):
        return Problem(
            403,
            "MFA enrolment required",
            detail="Your organization requires MFA. Enrol with this token at POST /api/v1/auth/mfa/enroll, "
            "then confirm at /api/v1/auth/mfa/confirm to finish signing in.",
            type_slug="mfa-enrollment-required",
            enrollment_token=refused.enrollment_token,
        )
    if isinstance(refused, services.AccountLocked):
        retry_after = max(1, int((refused.until - utcnow()).total_seconds()))
        return Problem(
            423,
            "Account locked",
            detail=f"Too many failed sign-ins. Try again after {refused.until.isoformat()} or reset your password.",
            type_slug="account-locked",
            locked_until=refused.until.isoformat(),
            headers={"Retry-After": str(retry_after)},
        )
    if isinstance(refused, services.PasswordExpired):
        return Problem(
            403,
            "Password expired",
            detail="Your organization requires a new password. Reset it through 'forgot password'.",
            type_slug="password-expired",
        )
    return Problem(
        401,
        "Invalid credentials",
        detail="The e-mail address or password is incorrect, or the account is not active yet.",
        type_slug="invalid-credentials",
        headers={"WWW-Authenticate": 'Bearer realm="spectral"'},
    )
