"""Sweeps without a W&B server: `etude sweep SWEEP.yaml` runs a W&B sweep file's trials here (see etude.sweeps.command).

The engine is Optuna (storages, samplers, the ask-and-tell interface); W&B's meaning of the file (parameters,
macros, hyperband, metric) is kept in `parameters`, `trial_command`, `hyperband` and `results`. Nothing here imports
Optuna or torch at import time.
"""
