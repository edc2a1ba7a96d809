"""C2SP signed notes and checkpoints, anchored to the Go reference implementation's published
example (golang.org/x/mod/sumdb/note: the PeterNeumann key and note), so other verifiers accept
what Spectral signs."""

from __future__ import annotations

import base64

import pytest

from spectral_shared.tlog.note import (
    Checkpoint,
    InvalidNote,
    NoteSigner,
    NoteVerifier,
    parse_checkpoint,
)

# From the documentation of golang.org/x/mod/sumdb/note (the package's example).
GO_SIGNER = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VERIFIER = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT
    + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_signing_reproduces_the_go_reference_note_byte_for_byte() -> None:
    signer = NoteSigner.parse(GO_SIGNER)  # its base64 holds a '+'
    assert str(signer) == GO_SIGNER and str(signer.verifier) == GO_VERIFIER
    assert signer.sign(GO_TEXT) == GO_NOTE  # Ed25519 is deterministic


def test_the_go_reference_note_opens_and_any_change_is_refused() -> None:
    verifier = NoteVerifier.parse(GO_VERIFIER)
    assert verifier.open(GO_NOTE) == GO_TEXT
    with pytest.raises(InvalidNote, match="does not verify"):
        verifier.open(GO_NOTE.replace("cryptography", "cryptographY"))
    with pytest.raises(InvalidNote, match="not signed by"):
        NoteSigner.generate("PeterNeumann").verifier.open(GO_NOTE)  # same name, other key
    for broken in (GO_NOTE.rstrip("\n"), GO_TEXT, GO_NOTE.replace("\u2014", "-")):
        with pytest.raises(InvalidNote):
            verifier.open(broken)


def test_other_signatures_are_ignored_and_keys_round_trip() -> None:
    ours, witness = NoteSigner.generate("spectral.example/audit"), NoteSigner.generate("witness")
    note = ours.sign("hello\n")
    cosigned = note + witness.sign("hello\n").split("\n\n", 1)[1]
    assert ours.verifier.open(cosigned) == "hello\n"
    assert witness.verifier.open(cosigned) == "hello\n"
    assert NoteVerifier.parse(str(ours.verifier)) == ours.verifier
    assert str(NoteSigner.parse(str(ours))) == str(ours)
    with pytest.raises(InvalidNote, match="id does not match"):
        NoteVerifier.parse(str(ours.verifier).replace(ours.verifier.key_id.hex(), "00000000"))
    with pytest.raises(ValueError, match="blank line"):
        ours.sign("two\n\nparagraphs\n")


def test_checkpoints_round_trip_and_malformed_ones_are_refused() -> None:
    root = bytes(range(32))
    checkpoint = Checkpoint("spectral.example/audit/org-1", 42, root)
    text = checkpoint.text()
    assert text == f"spectral.example/audit/org-1\n42\n{base64.b64encode(root).decode()}\n"
    signer = NoteSigner.generate("spectral.example/audit/org-1")
    assert parse_checkpoint(signer.verifier.open(signer.sign(text))) == checkpoint
    for bad in (
        "origin\n42\n",
        "origin\n-1\n" + base64.b64encode(root).decode() + "\n",
        "origin\n042\n" + base64.b64encode(root).decode() + "\n",
        "origin\n42\n" + base64.b64encode(root[:31]).decode() + "\n",
        "origin\n42\nnot base64!\n",
    ):
        with pytest.raises(InvalidNote):
            parse_checkpoint(bad)
