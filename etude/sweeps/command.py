"""`etude sweep SWEEP.yaml`: run a W&B sweep file here, with no W&B account or server.

    etude sweep scripts/config/wandb/circular_drum_size.yaml --count 8 --workers 2
    etude sweep SWEEP.yaml --status                       # the trials so far: state, metric, values, run folder
    etude sweep SWEEP.yaml --count 2 --testing --set number_of_drums=12   # added to every trial's command
    etude sweep SWEEP.yaml --storage postgresql://user@host/sweeps      # one sweep shared by several machines

The sweep's folder (`--dir`, default sweeps/<name>) holds its state (sweep.journal), each trial's run folder under
trials/trial-NNNN/, and at the end best.yaml, the best trial's values for `--config`. Ctrl-C or a kill stops it;
the same command resumes it. `--count N` is the sweep's total of trials (so the same command finishes it rather than
adding N more, unlike `wandb agent --count`); W&B's run_cap caps it too, and a grid ends when every point has run.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

__all__ = ['configure', 'run']


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('sweep', metavar='SWEEP.yaml', help='a W&B sweep file, as `wandb sweep` takes it')
    parser.add_argument('--count', type=int, metavar='N', help="the sweep's total number of trials (default: run_cap, the whole grid, or until stopped)")
    parser.add_argument('--workers', type=int, default=1, metavar='K', help='trials at once on this machine (default 1); CPU threads are divided among them')
    parser.add_argument('--storage', metavar='URL', help='Optuna storage that several machines share (a database URL); default a journal file in --dir')
    parser.add_argument('--dir', metavar='DIR', help='the sweep folder (default sweeps/<name of the sweep>)')
    parser.add_argument('--status', action='store_true', help='print the trials so far and the best one, and exit')
    parser.add_argument('--testing', action='store_true', help='pass --testing to every trial (small smoke trials)')
    parser.add_argument('--set', action='append', default=[], dest='trial_arguments', metavar='KEY=VALUE',
                        help="a setting appended to every trial's command after the sweep's values (repeatable), e.g. --set number_of_drums=12")


def run(arguments: argparse.Namespace) -> int:
    from ..errors import ConfigError, shown_url
    from .routine_keys import check_parameters, routine_settings
    from .runner import SweepRunner, status_table
    from .spec import read_sweep
    from .storage import check_sweep_folder

    spec = read_sweep(arguments.sweep)
    if arguments.count is not None and arguments.count < 1:
        raise ConfigError(f'--count is {arguments.count}; give the number of trials, at least 1')
    if arguments.workers < 1:
        raise ConfigError(f'--workers is {arguments.workers}; give at least 1')
    for setting in arguments.trial_arguments:
        if '=' not in setting:
            raise ConfigError(f"--set {setting}: write it KEY=VALUE, e.g. --set number_of_drums=12")
    trial_arguments = [*(['--testing'] if arguments.testing else []), *arguments.trial_arguments, *_testing_epochs(arguments, spec)]
    directory = Path(arguments.dir) if arguments.dir else Path('sweeps') / spec.name
    check_sweep_folder(directory, writing=not arguments.status)
    runner = SweepRunner(spec, directory, storage_url=arguments.storage, workers=arguments.workers, count=arguments.count, trial_arguments=trial_arguments,
                         resume_command=resume_command(arguments))
    if arguments.status:
        study = runner.open_study(create=False)
        print(status_table(runner.rows(study), spec.metric_name), end='')
        best = runner.best(study)
        if best is not None:
            print(f'best: trial {best.number}, {spec.metric_name} {best.metric:.6g}')
        return 0
    if spec.program and '${program}' in spec.command and not Path(spec.program).exists():
        raise ConfigError(f'The program {spec.program} of {spec.path} is not here (it is relative to the folder the sweep starts in, as for wandb agent); '
                          'run etude sweep from the project folder')
    runner.storage()  # a storage that cannot work is one line now, not after the routine is imported
    settings = routine_settings(list(spec.command) + trial_arguments, spec.program)
    if settings is not None:
        name, types = settings
        check_parameters(spec.parameters, types, f'{spec.path} (routine {name})')
        extra_keys = [word.lstrip('-').split('=', 1)[0].replace('-', '_') for word in trial_arguments if '=' in word]
        for key in extra_keys:
            if key not in types and key != 'runs_dir':
                from ..parameters import unknown_key_message

                raise ConfigError(unknown_key_message(key, types, 'the trial arguments'))
    else:
        print(f'etude sweep: {spec.program or spec.command[0]} runs no etude routine that can be found, so the parameters are not checked')
    runner.say(f'etude sweep: {spec.name} ({spec.method}, {len(spec.searched)} parameters swept) in {directory}'
               + (f', storage {shown_url(arguments.storage)}' if arguments.storage else ''))
    capped = [word for word in trial_arguments if word.startswith('num_of_epochs=')]
    if arguments.testing and capped and capped[-1] not in arguments.trial_arguments:
        runner.say(f'etude sweep: --testing: each trial trains {capped[-1]} (the routine\'s testing value, whatever the sweep file sets); '
                   '--set num_of_epochs=N chooses another')
    status = runner.run()
    if status != 0:
        return status
    study = runner.open_study(create=False)
    rows = runner.rows(study)
    counts = {state: sum(row.state == state for row in rows) for state in ('finished', 'stopped early', 'failed', 'running')}
    runner.say('etude sweep: ' + ', '.join(f'{number} {state}' for state, number in counts.items() if number))
    best = runner.best(study)
    if best is not None:
        path = runner.write_best(best)
        runner.say(f'best: trial {best.number}, {spec.metric_name} {best.metric:.6g}; its values are in {path}:')
        print(path.read_text(), end='')
    return 0


def _testing_epochs(arguments: argparse.Namespace, spec: Any) -> list[str]:
    """`--testing` makes smoke trials: short ones. A trial's sweep values reach it as key=value, which win over
    `--testing` in `etude train` (a sweep file that sets num_of_epochs: 0 would run every smoke trial to early
    stopping), so the routine's testing num_of_epochs is appended after them, unless `--set num_of_epochs=N` chose."""
    if not arguments.testing or any(setting.split('=', 1)[0].lstrip('-').replace('-', '_') == 'num_of_epochs' for setting in arguments.trial_arguments):
        return []
    from .routine_keys import routine_testing

    epochs = routine_testing(list(spec.command), spec.program).get('num_of_epochs')
    return [f'num_of_epochs={epochs}'] if epochs is not None else []


def resume_command(arguments: argparse.Namespace) -> str:
    """This sweep's command line, written the way `etude` was started (`etude`, `python -m etude`, under pipenv), for
    the line printed when the sweep is stopped: the same command resumes it (a password in --storage shown as ***)."""
    import shlex

    from ..errors import shown_url
    from ..training.resume_command import launcher

    words = launcher()
    words[-1:] = ['sweep']  # launcher() names `etude train`; the sweep's own subcommand instead
    words.append(arguments.sweep)
    for flag, value in (('--count', arguments.count), ('--storage', shown_url(arguments.storage) if arguments.storage else None), ('--dir', arguments.dir)):
        if value is not None:
            words += [flag, str(value)]
    if arguments.workers != 1:
        words += ['--workers', str(arguments.workers)]
    if arguments.testing:
        words.append('--testing')
    for setting in arguments.trial_arguments:
        words += ['--set', setting]
    return shlex.join(words)
