"""The contract suite's harnesses: one per target, each driving it through its public entry points.

:mod:`.harness` says what a harness does; :mod:`.objects` is the test-only
fourth target (a directory of objects under a bucket prefix), written the way
the README's "Adding a backup target" says.
"""
