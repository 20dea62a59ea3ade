"""Training: the loop and the command that runs it.

The loop: `routine` (the `Routine`, one run read top to bottom), `routine_data` (what it trains on and the `SplitView`
its task reads), `step` (precision, accumulation, clipping, schedules, torchrun's gradient averaging), `loaders`,
`evaluation_loop` (the one evaluation pass, which `etude evaluate` runs too), `resume`, `records` (each epoch's export,
the provenance, the summary), `task_hooks` (what the loop asks of its task; the baselines fitted once per run),
`early_stopping`, `distributed` (torchrun), `seeding`, `run_directory`.

The command: `command` is `etude train` (scripts/train.py is a shim over it); `routines` finds and checks a routine
(registered under the entry-point group `etude.routines`, a file, or `module:attribute`); `listing` describes its keys
for `-h`; `resume_command` writes the command that continues an interrupted run. The layers contract in
pyproject.toml orders these modules; nothing here knows a task.
"""
