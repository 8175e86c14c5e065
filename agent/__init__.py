"""auditseal-agent: tails local audit sources, spools durably, ships signed batches."""
