"""Control characters refused in request text (spectral_shared.web.text, issue 18)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from spectral_shared.web.text import PlainText, text_problem
from spectral_shared.web.validation import field_errors


class Body(PlainText):
    name: str
    description: str | None = None
    tags: list[str] = []
    labels: dict[str, str] = {}
    password: str | None = None


@pytest.mark.parametrize(
    "bad",
    ["Sepsis\x00Watch", "red\x1b[31mtext", "bell\x07", "del\x7f", "csi\x9b2J", "form\x0cfeed"],
)
def test_control_characters_are_refused_everywhere(bad: str) -> None:
    assert text_problem(bad, multi_line=True) is not None
    for body in (
        {"name": bad},
        {"name": "ok", "tags": [bad]},
        {"name": "ok", "labels": {bad: "x"}},
    ):
        with pytest.raises(ValidationError) as raised:
            Body.model_validate(body)
        [error] = field_errors(raised.value)
        assert error["pointer"] in ("/name", "/tags", "/labels")
        assert bad not in error["message"]  # never quoted back


def test_line_breaks_only_in_multi_line_fields() -> None:
    assert Body.model_validate({"name": "ok", "description": "two\nlines\r\n\tand a tab"})
    for broken in ("Sepsis\nWatch", "Sepsis\rWatch", "Sepsis\u2028Watch"):
        with pytest.raises(ValidationError, match="Line breaks"):
            Body.model_validate({"name": broken})


def test_plain_unicode_and_secrets_pass() -> None:
    body = Body.model_validate(
        {"name": "Zoë's Triage — 看護 🩺", "password": "pass\x00word\nwith anything"}
    )
    assert body.name.startswith("Zoë")
