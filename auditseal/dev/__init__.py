"""Development and test helpers: the dev PKI, a one-machine setup, sample events."""
