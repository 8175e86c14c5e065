"""Elasticsearch: the production index (data streams per tenant, ECS mappings, ILM)."""
