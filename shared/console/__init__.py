"""The operator console, ``dr``: click commands over the shared package."""
