"""The auditor's tools over an archive: offline verification (archive, index), inclusion proofs."""
