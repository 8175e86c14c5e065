"""Signed notes against the known answer of Go's golang.org/x/mod/sumdb/note."""

import pytest

from auditseal.formats.note import NoteError, Signer, Verifier, open_note

GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_NOTE = (
    GO_TEXT
    + "\n\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)


def test_signing_reproduces_the_reference_note_byte_for_byte():
    signer = Signer.parse(GO_SKEY)
    assert signer.encode() == GO_SKEY
    assert signer.verifier().encode() == GO_VKEY
    assert signer.sign(GO_TEXT) == GO_NOTE
    text, verifier = open_note(GO_NOTE, [Verifier.parse(GO_VKEY)])
    assert text == GO_TEXT and verifier.name == "PeterNeumann"


def test_tampered_text_or_signature_is_refused():
    verifiers = [Verifier.parse(GO_VKEY)]
    with pytest.raises(NoteError) as bad:
        open_note(GO_NOTE.replace("cryptography", "cryptographi"), verifiers)
    assert bad.value.code == "bad_signature"
    flipped = GO_NOTE.replace("x08go", "x08gp")
    with pytest.raises(NoteError) as bad:
        open_note(flipped, verifiers)
    assert bad.value.code in ("bad_signature", "unknown_key")


def test_a_note_by_another_key_is_unknown():
    other = Signer.generate("PeterNeumann")
    with pytest.raises(NoteError) as bad:
        open_note(other.sign(GO_TEXT), [Verifier.parse(GO_VKEY)])
    assert bad.value.code == "unknown_key"


@pytest.mark.parametrize(
    "key",
    [
        "nope",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_malformed_verifier_keys_are_refused(key):
    with pytest.raises(NoteError):
        Verifier.parse(key)


@pytest.mark.parametrize(
    "extra",
    [
        "trailing text\n",  # text after the signatures
        "\u2014 PeterNeumann\n",  # a signature line without a signature
        "\u2014 Other c2lnbmF0dXJlIG9mIHNvbWVvbmU= extra\n",  # a signature line with more after it
        "\n",  # a blank line inside the signatures
    ],
)
def test_anything_but_signature_lines_after_a_good_signature_is_malformed(extra):
    with pytest.raises(NoteError) as bad:
        open_note(GO_NOTE + extra, [Verifier.parse(GO_VKEY)])
    assert bad.value.code == "malformed"


def test_an_unknown_key_signature_beside_the_pinned_one_is_ignored():
    other = Signer.generate("Other")
    cosigned = GO_NOTE + other.sign(GO_TEXT)[len(GO_TEXT) + 1 :]
    text, verifier = open_note(cosigned, [Verifier.parse(GO_VKEY)])
    assert text == GO_TEXT and verifier.name == "PeterNeumann"
