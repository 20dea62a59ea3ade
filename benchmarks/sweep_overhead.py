"""What `etude sweep` costs: its trials beside the same runs launched alone, and trials per hour with 2 workers vs 1.

    python benchmarks/sweep_overhead.py                 # 4 testing trials of the repository's sweep file per setting
    python benchmarks/sweep_overhead.py --trials 6 --json figures.json

Every trial is a `--testing` run of the circular drum routine (12 drums, 2 epochs, on the CPU), started by
`etude sweep scripts/config/wandb/circular_drum_size.yaml` exactly as it starts any trial (the file's own command,
W&B offline). Measured, from the outside, by watching the sweep folder every 50 ms:

- sweep start-up: `etude sweep` started → its first trial launched (reading and checking the file against the
  routine's keys, opening the storage), paid once per sweep;
- launch → first epoch of each trial in the sweep, beside the same command (its command.json) launched alone: the
  per-trial overhead of the runner, which should be nothing but noise;
- the gap between one trial's process ending (as the runner sees it, polling every 0.5 s) and the next one's launch,
  from the times the runner records in the storage: recording the result, claiming a trial, writing its files;
- trials per hour with --workers 1 and --workers 2 (each worker's trial gets OMP_NUM_THREADS = cores / workers).

The dataset is generated once before any timing. On a machine shared with other work the figures are noisy: run it
when the machine is quiet, and compare ratios measured in the same call.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SWEEP_FILE = ROOT / 'scripts' / 'config' / 'wandb' / 'circular_drum_size.yaml'
TRIAL_SETTINGS = ['number_of_drums=12', 'strikes_per_drum=4', 'num_of_epochs=2', 'device=cpu']


def _environment() -> dict[str, str]:
    environment = {**os.environ, 'PYTHONPATH': str(ROOT), 'WANDB_MODE': 'offline', 'WANDB_SILENT': 'true'}
    environment.pop('OMP_NUM_THREADS', None)  # the sweep divides the cores among its workers itself
    return environment


def _first_epoch_seen(folder: Path, started: float, timeout: float = 600) -> float:
    """Seconds from `started` until a metrics.jsonl under `folder` has a line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for metrics in folder.glob('*/metrics.jsonl'):
            if metrics.stat().st_size > 0:
                return time.monotonic() - started
        time.sleep(0.05)
    raise RuntimeError(f'no epoch under {folder}')


def run_sweep(work: Path, trials: int, workers: int) -> dict[str, object]:
    """One sweep of `trials` trials, watched from outside: launches, first epochs and ends of every trial."""
    directory = work / f'sweep-{workers}'
    command = [sys.executable, '-m', 'etude', 'sweep', str(SWEEP_FILE), '--count', str(trials), '--workers', str(workers), '--dir', str(directory),
               '--testing', *[f'--set={setting}' for setting in TRIAL_SETTINGS]]
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env=_environment(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    launched: dict[str, float] = {}
    first_epoch: dict[str, float] = {}
    while process.poll() is None:
        now = time.monotonic() - started
        for trial in (directory / 'trials').glob('trial-*') if (directory / 'trials').exists() else []:
            name = trial.name
            if name not in launched and (trial / 'command.json').exists():
                launched[name] = now
            if name in launched and name not in first_epoch and any(path.stat().st_size for path in trial.glob('*/metrics.jsonl')):
                first_epoch[name] = now
        time.sleep(0.05)
    output = process.stdout.read() if process.stdout else ''
    if process.returncode != 0:
        raise RuntimeError(f'etude sweep failed:\n{output[-3000:]}')
    wall = time.monotonic() - started
    names = sorted(launched)
    # the runner's own bookkeeping between two trials, from the times it records: one trial's process seen ending →
    # the next one launched (recording the result, claiming and asking for a trial, writing its files)
    recorded = _recorded_times(directory)
    gaps = [recorded[index + 1][0] - recorded[index][1] for index in range(len(recorded) - 1)] if workers == 1 else []
    return {'workers': workers, 'trials': len(names), 'wall_seconds': round(wall, 2), 'trials_per_hour': round(len(names) / wall * 3600, 1),
            'startup_seconds': round(launched[names[0]], 2), 'launch_to_first_epoch': [round(first_epoch[name] - launched[name], 2) for name in names],
            'gap_between_trials': [round(gap, 2) for gap in gaps], 'directory': str(directory)}


def _recorded_times(directory: Path) -> list[tuple[float, float]]:
    """(launched_at, ended_at) of each trial, as the runner recorded them in the sweep's storage."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    storage = optuna.storages.JournalStorage(JournalFileBackend(str(directory / 'sweep.journal')))
    (summary,) = optuna.get_all_study_summaries(storage)
    trials = optuna.load_study(study_name=summary.study_name, storage=storage).get_trials()
    return [(trial.user_attrs['launched_at'], trial.user_attrs['ended_at']) for trial in trials if 'launched_at' in trial.user_attrs]


def run_alone(work: Path, command_file: Path, index: int) -> float:
    """The same trial command launched alone, into a fresh --runs-dir: launch → first epoch."""
    command = json.loads(command_file.read_text())
    runs = work / f'alone-{index}'
    where = command.index('--runs-dir')
    command[where + 1] = str(runs)
    environment = {**_environment(), 'OMP_NUM_THREADS': str(os.cpu_count() or 1)}
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = _first_epoch_seen(runs, started)
    process.wait()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--trials', type=int, default=4)
    parser.add_argument('--json', metavar='FILE')
    arguments = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix='etude-sweep-benchmark-'))
    try:
        # the dataset, once, before any timing (the trials find it in data/)
        subprocess.run([sys.executable, str(ROOT / 'scripts' / 'train.py'), '--testing', *TRIAL_SETTINGS, 'num_of_epochs=1', '--runs-dir', str(work / 'warm')],
                       cwd=ROOT, env=_environment(), check=True, capture_output=True)
        one = run_sweep(work, arguments.trials, workers=1)
        commands = sorted(Path(str(one['directory'])).glob('trials/trial-*/command.json'))
        alone = [run_alone(work, command, index) for index, command in enumerate(commands)]
        two = run_sweep(work, arguments.trials, workers=2)
        in_sweep = list(one['launch_to_first_epoch'])  # type: ignore[call-overload]
        figures = {
            'cores': os.cpu_count(),
            'sweep_startup_seconds': one['startup_seconds'],
            'launch_to_first_epoch_in_sweep_median': statistics.median(in_sweep),
            'launch_to_first_epoch_alone_median': statistics.median(alone),
            'gap_between_trials_median': statistics.median(one['gap_between_trials']) if one['gap_between_trials'] else None,  # type: ignore[arg-type]
            'trials_per_hour_1_worker': one['trials_per_hour'],
            'trials_per_hour_2_workers': two['trials_per_hour'],
            'speedup_2_workers': round(float(two['trials_per_hour']) / float(one['trials_per_hour']), 3),  # type: ignore[arg-type]
            'one_worker': one, 'two_workers': two, 'alone_launch_to_first_epoch': [round(value, 2) for value in alone],
        }
        print(json.dumps(figures, indent=2))
        if arguments.json:
            Path(arguments.json).write_text(json.dumps(figures, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
