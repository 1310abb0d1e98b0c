"""EyewearML disaster recovery: the code every function and job shares.

Nothing here reads the environment or opens a connection at import time:
configuration is read when a handler runs, and heavy client libraries are
imported lazily by :mod:`shared.clients`, so a function's cold start pays
only for what that invocation uses.
"""

__version__ = "1.0.0"
