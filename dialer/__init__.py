"""exotel-dialer: a distributed call queue for the Exotel telephony API."""

__version__ = "0.1.0"
