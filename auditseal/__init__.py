"""auditseal core: event model, wire format, record framing, config, TLS and PKI.

The agent and the collector import this package, never each other.
"""

__version__ = "0.1.0"
