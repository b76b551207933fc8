"""Agora back-office bridge (see README.md)."""
