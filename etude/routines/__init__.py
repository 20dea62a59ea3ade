"""The routines shipped with etude, one module each: `etude train NAME` runs one, `etude train -h` lists them.

Each module declares DEFAULTS (its Parameters), TESTING (what --testing sets), PROJECT (the tracker's project) and
`build(routine, parameters)`, which gives the routine its dataset, task, baselines and model (and may return extra
metrics); an optional `report(summary)` is the result line printed after the test. Nothing here is imported by
`import etude`: the command imports a routine when it runs it.
"""
