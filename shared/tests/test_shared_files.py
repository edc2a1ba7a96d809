"""Secret files: owner-only from the first byte, replaced whole, nothing left behind."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from spectral_shared.files import write_private


def test_written_owner_only_and_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "secret"
    write_private(path, "first")
    write_private(path, b"second")
    assert path.read_text() == "second"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secret"]


def test_a_failed_write_keeps_the_old_content(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    write_private(path, "kept")
    with pytest.raises(TypeError):
        write_private(path, 42)  # type: ignore[arg-type]
    assert path.read_text() == "kept"
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]
