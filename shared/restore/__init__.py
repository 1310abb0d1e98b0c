"""Restore requests: the ``dr-restore`` message schema, dispatcher, locks and status records."""
