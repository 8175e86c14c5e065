"""auditseal-collector: verifies, deduplicates and journals batches; indexes and archives them."""
