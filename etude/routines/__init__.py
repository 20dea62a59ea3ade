"""The audio example routines shipped with etude, one module each (the music tasks' routines live in their packages,
`etude/music/<task>/routine.py`); all are registered under the entry-point group `etude.routines` in setup.py, so
`etude train NAME` runs one and `etude train -h` lists them.

Each module declares DEFAULTS (its Parameters), TESTING (what --testing sets), PROJECT (the tracker's project) and
`build(routine, parameters)`, which gives the routine its dataset, its task (which brings the metrics and the
baselines) and its model; an optional `report(summary)` is the result line printed after the test. Nothing here is
imported by `import etude`: the command imports a routine when it runs it.
"""
