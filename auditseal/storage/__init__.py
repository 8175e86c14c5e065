"""Storage I/O with no decisions: segment files, atomic small files, the archive stores (a
directory, S3 Object Lock) and legal holds."""
