"""Local stand-ins for Google control-plane APIs that have no emulator, on :mod:`.httpbase`."""
