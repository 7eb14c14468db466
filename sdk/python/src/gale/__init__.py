"""Gale Python SDK."""
