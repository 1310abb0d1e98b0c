"""Recovery drills: prove, on a schedule, that every target's newest backup restores.

Module map:

* :mod:`shared.drill.figures` — RPO, RTO and findings (pure, clock passed in).
* :mod:`shared.drill.run` — start a drill, advance it (publish the test restores
  one per target at a time, follow their status records), finish it.
* :mod:`shared.drill.report` — the report as JSON, Markdown and one notification.
* :mod:`shared.drill.handlers` — the ``dr-drill`` message (scheduled drills).
"""
