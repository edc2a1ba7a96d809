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


def test_a_state_code_keeps_a_control_character_sent_around_it() -> None:
    """A state code is upper-cased and stripped of spaces only by its type: a control character
    sent around it is refused all the same, as the schema's pattern says."""
    import re

    from pydantic import ValidationError

    from spectral_shared.us_states import USState
    from spectral_shared.web.text import ONE_LINE_PATTERN, PlainText

    class Place(PlainText):
        state: USState
        states: list[USState] = []

    assert Place.model_validate({"state": " ca "}).state == "CA"
    for sent in ({"state": "VT\x0b "}, {"state": "CA", "states": ["ny\x1b"]}):
        with pytest.raises(ValidationError):
            Place.model_validate(sent)
    schema = Place.model_json_schema()["properties"]["state"]
    assert not re.search(schema["pattern"], "VT\x0b ")
    assert re.search(schema["pattern"], " ca ")
    # One-line fields take a tab, as the validator does, and nothing else below U+0020.
    assert re.search(ONE_LINE_PATTERN, "a\tb") and not re.search(ONE_LINE_PATTERN, "a\nb")
