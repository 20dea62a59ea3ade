"""Running a sweep's trials: each an ordinary etude run in its own process, the sweep's state in Optuna's storage.

State lives in the storage (by default a journal file, `sweep.journal`, in the sweep folder; or `--storage URL`, a
database that workers on several machines share). Each trial is recorded there with its values, its per-epoch metric
(which hyperband compares), its owner (host and process of the `etude sweep` that runs it) and its result. So:

- Ctrl-C stops the trials (they save `last.pt` as any run does) and leaves them running in the storage; kill -9 leaves
  them too. The same command then adopts every trial of this host whose owner is gone: a trial whose process still
  runs is watched to its end, one with a summary.json is recorded, one with a last.pt is resumed (`--resume`), and one
  with nothing is started again with the same values. A finished trial is never run twice.
- Workers claim trials under a lock file in the sweep folder (and the storage's own atomic claim of a queued trial),
  so two workers never take the same grid point: a grid is queued whole when the sweep is created.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError, MissingDependencyError
from ..interrupts import Terminated, terminate_as_interrupt
from ..processes import process_alive
from .parameters import SweepParameter, nest
from .results import epoch_history, run_folder, summary_value
from .spec import SweepSpec
from .storage import open_storage
from .trial_command import trial_command

__all__ = ['SweepRunner', 'TrialRow', 'status_table']

_POLL_SECONDS = 0.5
_KILL_DELAY_SECONDS = 30  # W&B's agent: SIGTERM, then SIGKILL after 30 s


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise MissingDependencyError('etude sweep needs Optuna; install it with: pip install "etude[sweeps]"') from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


@dataclass
class TrialRow:
    """One trial as `--status` shows it."""

    number: int
    state: str
    values: dict[str, Any]
    metric: float | None
    run: str | None
    note: str = ''


@dataclass
class SweepRunner:
    spec: SweepSpec
    directory: Path
    storage_url: str | None = None
    workers: int = 1
    count: int | None = None
    trial_arguments: Sequence[str] = ()
    say: Any = print
    resume_command: str | None = None  # the command line that resumes the sweep, printed when it is stopped
    owner: str = field(default_factory=lambda: f'{socket.gethostname()}:{os.getpid()}')

    def __post_init__(self) -> None:
        self.optuna = _optuna()
        self.stopping = threading.Event()
        self.watched: dict[int, int] = {}  # trial number → process id of each trial running now (its own or adopted)
        self.thread_lock = threading.Lock()
        self._storage: Any = None

    # -- the study ------------------------------------------------------------------------------------------------

    def storage(self, *, create: bool = True) -> Any:
        """Optuna's storage (see `etude.sweeps.storage`), opened once; None when `create` is off and the journal is
        not there. `etude sweep` opens it before anything else, so a storage that cannot work is one line at once."""
        if self._storage is None:
            self._storage = open_storage(self.optuna, self.storage_url, self.directory, create=create)
        return self._storage

    def distributions(self) -> dict[str, Any]:
        """What the engine searches: a value's index for values (and every grid parameter), else the quantile in [0, 1]."""
        distributions = self.optuna.distributions
        space: dict[str, Any] = {}
        for parameter in self.spec.searched:
            if self.spec.method == 'grid':
                space[parameter.name] = distributions.CategoricalDistribution(tuple(range(len(parameter.grid_values()))))
            elif parameter.by_index:
                space[parameter.name] = distributions.CategoricalDistribution(tuple(range(len(parameter.values))))
            else:
                space[parameter.name] = distributions.FloatDistribution(0.0, 1.0)
        return space

    def sampler(self) -> Any:
        samplers = self.optuna.samplers
        if self.spec.method == 'bayes':
            # a Gaussian process over the same normalised space as W&B's, random until two trials have finished (as W&B's)
            return samplers.GPSampler(n_startup_trials=2, independent_sampler=samplers.RandomSampler())
        return samplers.RandomSampler()

    def pruner(self) -> Any:
        if self.spec.hyperband is None:
            return self.optuna.pruners.NopPruner()
        from .hyperband import wandb_hyperband_pruner

        return wandb_hyperband_pruner(self.spec.hyperband.bands, self.spec.hyperband.eta, self.spec.goal)

    def open_study(self, *, create: bool = True) -> Any:
        """The sweep's study, created with its grid queued when it is new. Creating and recording the sweep file are two
        writes, so they happen under this host's claim lock, and another machine that opens the study between them
        waits for the record (a few seconds at most) rather than taking it for another sweep."""
        import time

        optuna, storage = self.optuna, self.storage(create=create)
        if storage is None:
            raise ConfigError(f'No sweep {self.spec.name} in {self.storage_url or self.directory} yet; start it: etude sweep {self.spec.path}')
        keywords = {'study_name': self.spec.name, 'storage': storage, 'sampler': self.sampler(), 'pruner': self.pruner()}
        recorded = json.loads(json.dumps(self.spec.raw, default=str))
        with self.claim_lock():
            try:
                study = optuna.load_study(**keywords)
            except KeyError:
                if not create:
                    where = self.storage_url or self.directory
                    raise ConfigError(f'No sweep {self.spec.name} in {where} yet; start it: etude sweep {self.spec.path}') from None
                try:
                    study = optuna.create_study(direction=self.spec.goal, **keywords)
                except optuna.exceptions.DuplicatedStudyError:  # another machine created it meanwhile
                    study = optuna.load_study(**keywords)
                else:
                    study.set_user_attr('sweep', recorded)
                    if self.spec.method == 'grid':
                        self._queue_grid(study)
                    return study
        deadline = time.monotonic() + 10.0
        while study.user_attrs.get('sweep') is None and time.monotonic() < deadline:  # created elsewhere, not yet recorded
            time.sleep(0.2)
            study = optuna.load_study(**keywords)
        if study.user_attrs.get('sweep') != recorded:
            raise ConfigError(f'The sweep {self.spec.name} in {self.storage_url or self.directory} was started from another version of {self.spec.path}; '
                              'give this one its own --dir (or name: in the file), or restore the file')
        return study

    def _queue_grid(self, study: Any) -> None:
        """Every grid point queued once, in W&B's order (parameters by name, the last one varying fastest)."""
        import itertools

        searched = self.spec.searched
        for point, indices in enumerate(itertools.product(*[range(len(parameter.grid_values())) for parameter in searched])):
            study.enqueue_trial(dict(zip([parameter.name for parameter in searched], indices, strict=True)), user_attrs={'grid_point': point})
        study.set_user_attr('grid_size', point + 1 if searched else 1)
        if not searched:
            study.enqueue_trial({}, user_attrs={'grid_point': 0})

    @contextlib.contextmanager
    def claim_lock(self) -> Iterator[None]:
        """One claim at a time among this host's workers (threads and other `etude sweep` processes on this folder)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.thread_lock, open(self.directory / 'claim.lock', 'a') as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    # -- values ---------------------------------------------------------------------------------------------------

    def values_of(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The trial's value of every parameter (flat names), from what the engine chose."""
        values: dict[str, Any] = {}
        for parameter in self.spec.parameters:
            values[parameter.name] = self._decode(parameter, params.get(parameter.name))
        return values

    def _decode(self, parameter: SweepParameter, chosen: Any) -> Any:
        if not parameter.searched:
            return parameter.value
        if self.spec.method == 'grid':
            return parameter.grid_values()[int(chosen)]
        if parameter.by_index:
            return parameter.values[int(chosen)]
        return parameter.ppf(float(chosen))

    # -- the run --------------------------------------------------------------------------------------------------

    def limit(self) -> int | None:
        limits = [limit for limit in (self.count, self.spec.run_cap) if limit is not None]
        return min(limits) if limits else None

    def run(self) -> int:
        study = self.open_study()
        gpus = _gpus()
        threads = [threading.Thread(target=self._work, args=(study, index, gpus), name=f'sweep-worker-{index}', daemon=True) for index in range(self.workers)]
        for thread in threads:
            thread.start()
        try:
            with terminate_as_interrupt():  # SIGTERM (Slurm, systemd, Docker) stops the sweep as Ctrl-C does
                while any(thread.is_alive() for thread in threads):
                    for thread in threads:
                        thread.join(timeout=0.2)
        except KeyboardInterrupt as interrupt:
            received = signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT
            return self._stop(threads, received)
        return 0

    def _stop(self, threads: Sequence[threading.Thread], received: signal.Signals) -> int:
        """Pass the signal on to every running trial (each saves its last.pt and ends, as it would on its own), wait
        for them, say what was stopped and how to resume; the exit status is the shell's for the signal."""
        self.stopping.set()
        running = dict(self.watched)
        for pid in running.values():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, received)
        for thread in threads:
            thread.join(timeout=_KILL_DELAY_SECONDS)
        name = 'SIGTERM' if received == signal.SIGTERM else 'Ctrl-C'
        self.say(f'etude sweep: stopped by {name}' + ('; no trial was running' if not running else
                                                      f'; {len(running)} running trial{"s" if len(running) != 1 else ""} stopped:'))
        for number in sorted(running):
            self.say(f'  trial {number}: {self._kept(number)}')
        self.say(f'resume with: {self.resume_command}' if self.resume_command else 'the same command resumes the sweep')
        return 128 + int(received)

    def _kept(self, number: int) -> str:
        """What a stopped trial keeps: its last.pt (it resumes from there) or nothing (it starts again, same values)."""
        run = run_folder(self.trial_directory(number))
        last = run / 'checkpoints' / 'last.pt' if run is not None else None
        if last is None or not last.exists():
            return 'no epoch had finished; it starts again with the same values'
        return f'keeps {last}; it resumes from there'

    def _work(self, study: Any, index: int, gpus: Sequence[str]) -> None:
        environment = _trial_environment(self.workers, gpus[index % len(gpus)] if len(gpus) > 1 else None)
        while not self.stopping.is_set():
            claimed = self._claim(study)
            if claimed is None:
                return
            trial, adopted = claimed
            try:
                self._run_trial(study, trial, adopted, environment)
            except Exception as error:  # a bug in one trial's bookkeeping must not end the others
                self.say(f'trial {trial.number}: {type(error).__name__}: {error}')
                self._tell(study, trial, 'FAIL', error=f'{type(error).__name__}: {error}')

    def _claim(self, study: Any) -> tuple[Any, bool] | None:
        """The next trial for this worker: an abandoned one of this host first, else a new one (None: the sweep is done)."""
        optuna = self.optuna
        TrialState = optuna.trial.TrialState  # noqa: N806  (Optuna's enum)
        with self.claim_lock():
            trials = [trial for trial in study.get_trials(deepcopy=False) if not trial.user_attrs.get('surplus')]
            for frozen in trials:
                if frozen.state == TrialState.RUNNING and self._abandoned(frozen):
                    trial = optuna.trial.Trial(study, frozen._trial_id)  # Optuna has no public handle on an existing trial by number
                    trial.set_user_attr('owner', self.owner)
                    return trial, True
            if self.stopping.is_set() or self._target_reached(trials):
                return None
            limit = self.limit()
            started = [trial for trial in trials if trial.state != TrialState.WAITING]
            if limit is not None and len(started) >= limit:
                return None
            if self.spec.method == 'grid' and not any(trial.state == TrialState.WAITING for trial in trials):
                return None
            trial = study.ask(self.distributions())
            if self.spec.method == 'grid' and 'grid_point' not in trial.user_attrs:
                # another machine took the last grid point between our look and our ask: this trial is not one
                trial.set_user_attr('surplus', True)
                study.tell(trial, state=TrialState.FAIL)
                return None
            trial.set_user_attr('owner', self.owner)
            trial.set_user_attr('values', json.loads(json.dumps(self.values_of(trial.params), default=str)))
            return trial, False

    def _abandoned(self, frozen: Any) -> bool:
        owner = str(frozen.user_attrs.get('owner', ''))
        host, _, pid = owner.rpartition(':')
        if host != socket.gethostname() or owner == self.owner or not pid.isdigit():
            return False  # another machine's trial is that machine's to resume; ours is running in this process
        return not process_alive(int(pid))

    def _target_reached(self, trials: Sequence[Any]) -> bool:
        target = self.spec.target
        if target is None:
            return False
        done = [trial.value for trial in trials if trial.state == self.optuna.trial.TrialState.COMPLETE and trial.value is not None]
        return any(value <= target if self.spec.goal == 'minimize' else value >= target for value in done)

    def trial_directory(self, number: int) -> Path:
        return self.directory / 'trials' / f'trial-{number:04d}'

    def _run_trial(self, study: Any, trial: Any, adopted: bool, environment: Mapping[str, str]) -> None:
        folder = self.trial_directory(trial.number)
        values = self.values_of(trial.params)
        shown = ' '.join(f'{name}={_short(value)}' for name, value in values.items() if any(p.name == name and p.searched for p in self.spec.parameters))
        run = run_folder(folder)
        orphan = int(study.get_trials(deepcopy=False)[trial.number].user_attrs.get('process', 0) or 0) if adopted else 0
        resume: list[str] = []
        if adopted and run is not None and (run / 'summary.json').exists():
            self.say(f'trial {trial.number}: finished while no sweep watched it; recording its result')
            self._finish(study, trial, run, returncode=0, stopped=False)
            return
        if adopted and orphan and process_alive(orphan):
            self.say(f'trial {trial.number}: still running (process {orphan}); watching it')
            self.watched[trial.number] = orphan  # stopped with the sweep, as the trials it started
            try:
                self._watch(study, trial, folder, process=None, pid=orphan)
            finally:
                self.watched.pop(trial.number, None)
            if self.stopping.is_set() and not _has_summary(folder):
                return  # stopped with the sweep: resumed by the same command
            self._finish(study, trial, run_folder(folder), returncode=0 if _has_summary(folder) else 1, stopped=False)
            return
        if adopted and run is not None and (run / 'checkpoints' / 'last.pt').exists():
            resume = ['--resume', str(run)]
            self.say(f'trial {trial.number}: resuming {run}')
        elif folder.exists():
            shutil.rmtree(folder)  # a trial that saved nothing starts again, with the same values
        folder.mkdir(parents=True, exist_ok=True)
        nested = nest(values)
        command = trial_command(self.spec.command, nested, program=self.spec.program, json_file=folder / 'args.json')
        if '--runs-dir' not in command and not any(word.startswith('--runs-dir=') for word in command):
            command += ['--runs-dir', str(folder)]
        command += [*self.trial_arguments, *resume]
        # what `wandb agent` hands a run: the values in a file named by WANDB_SWEEP_PARAM_PATH, read before W&B starts
        (folder / 'sweep-values.yaml').write_text(yaml.safe_dump({name: {'value': value} for name, value in nested.items()}, sort_keys=False))
        trial_environment = {**environment, 'WANDB_SWEEP_PARAM_PATH': str(folder / 'sweep-values.yaml'), 'ETUDE_SWEEP_TRIAL': str(trial.number)}
        (folder / 'command.json').write_text(json.dumps(command))
        if not resume:
            self.say(f'trial {trial.number}: {shown or "(constants only)"}')
        with open(folder / 'output.log', 'ab') as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=trial_environment)
        self.watched[trial.number] = process.pid
        trial.set_user_attr('process', process.pid)
        trial.set_user_attr('launched_at', time.time())
        try:
            stopped = self._watch(study, trial, folder, process=process, pid=process.pid)
        finally:
            self.watched.pop(trial.number, None)
        if self.stopping.is_set() and not stopped and process.returncode != 0:
            return  # interrupted with the sweep: left running in the storage, resumed by the same command
        self._finish(study, trial, run_folder(folder), returncode=process.returncode, stopped=stopped)

    def _watch(self, study: Any, trial: Any, folder: Path, *, process: subprocess.Popen[bytes] | None, pid: int) -> bool:
        """Report each new epoch's metric to the storage until the trial ends; stop it when hyperband says so."""
        reported = set(study.get_trials(deepcopy=False)[trial.number].intermediate_values)
        stopped = False
        while True:
            finished = process.poll() is not None if process is not None else not process_alive(pid)
            run = run_folder(folder)
            if run is not None and self.spec.metric_name is not None and not stopped:
                for epoch, value in epoch_history(run, self.spec.metric_name):
                    if epoch in reported:
                        continue
                    trial.report(value, epoch)
                    reported.add(epoch)
                    if self.spec.hyperband is not None and not finished and trial.should_prune():
                        self.say(f'trial {trial.number}: stopped after epoch {epoch} (hyperband)')
                        stopped = True
                        _terminate(process, pid)
                        break
            if finished:
                return stopped
            time.sleep(_POLL_SECONDS)

    def _finish(self, study: Any, trial: Any, run: Path | None, *, returncode: int, stopped: bool) -> None:
        trial.set_user_attr('ended_at', time.time())  # when the runner saw the trial's process end (within a poll)
        metric = self.spec.metric_name
        value = summary_value(run, metric) if run is not None and metric is not None else None
        if run is not None:
            trial.set_user_attr('run', str(run))
        if value is not None:
            trial.set_user_attr('metric', value)
        if stopped:
            self._tell(study, trial, 'PRUNED')
            return
        if returncode != 0 or run is None or not (run / 'summary.json').exists():
            error = _last_error_line(self.trial_directory(trial.number) / 'output.log') or f'exit status {returncode}'
            self.say(f'trial {trial.number}: failed: {error}')
            self._tell(study, trial, 'FAIL', error=error)
            return
        if metric is not None and value is None:
            error = f'{metric} is not in the run summary (see etude.sweeps.results for the names it has)'
            self.say(f'trial {trial.number}: failed: {error}')
            self._tell(study, trial, 'FAIL', error=error)
            return
        self.say(f'trial {trial.number}: finished' + (f', {metric} {value:.6g}' if value is not None else ''))
        self._tell(study, trial, 'COMPLETE', value=value if value is not None else 0.0)

    def _tell(self, study: Any, trial: Any, state: str, *, value: float | None = None, error: str | None = None) -> None:
        if error is not None:
            trial.set_user_attr('error', error)
        TrialState = self.optuna.trial.TrialState  # noqa: N806  (Optuna's enum)
        study.tell(trial, values=value if state == 'COMPLETE' else None, state=getattr(TrialState, state), skip_if_finished=True)

    # -- results --------------------------------------------------------------------------------------------------

    def rows(self, study: Any) -> list[TrialRow]:
        names = {'COMPLETE': 'finished', 'PRUNED': 'stopped early', 'FAIL': 'failed', 'RUNNING': 'running', 'WAITING': 'queued'}
        rows = []
        for trial in study.get_trials(deepcopy=False):
            if trial.user_attrs.get('surplus'):
                continue
            values = trial.user_attrs.get('values') or (self.values_of(trial.params) if trial.state.name != 'WAITING' else {})
            metric = trial.user_attrs.get('metric')
            run = trial.user_attrs.get('run')
            if metric is None and trial.state.name == 'RUNNING' and self.spec.metric_name:
                folder = run_folder(self.trial_directory(trial.number))
                metric = summary_value(folder, self.spec.metric_name) if folder is not None else None
                run = str(folder) if folder is not None else None
            rows.append(TrialRow(trial.number, names.get(trial.state.name, trial.state.name.lower()), dict(values), metric, run,
                                 str(trial.user_attrs.get('error', ''))))
        return rows

    def best(self, study: Any) -> TrialRow | None:
        if self.spec.metric_name is None:
            return None
        sign = 1.0 if self.spec.goal == 'minimize' else -1.0
        finished = [(sign * row.metric, row.number, row) for row in self.rows(study) if row.state == 'finished' and row.metric is not None]
        return min(finished)[2] if finished else None

    def write_best(self, row: TrialRow) -> Path:
        """The best trial's values as a YAML file that `--config` takes (nested parameters as mappings)."""
        from .routine_keys import routine_name

        path = self.directory / 'best.yaml'
        routine = routine_name(self.spec.command, self.spec.program) or 'ROUTINE'
        header = (f'# best trial of sweep {self.spec.name}: trial {row.number}, {self.spec.metric_name} {row.metric:.6g} ({self.spec.goal})\n'
                  f'# run: {row.run}\n# rerun it with: etude train {routine} --config {path} (plus any arguments the trials had)\n')
        path.write_text(header + yaml.safe_dump(nest(row.values), sort_keys=False))
        return path


def status_table(rows: Sequence[TrialRow], metric: str | None) -> str:
    header = ['trial', 'state', metric or 'metric', 'values', 'run']
    body = [[str(row.number), row.state + (f' ({row.note})' if row.note else ''), f'{row.metric:.6g}' if row.metric is not None else '-',
             ' '.join(f'{key}={_short(value)}' for key, value in row.values.items()), row.run or '-'] for row in rows]
    widths = [max(len(line[index]) for line in [header, *body]) for index in range(len(header))]
    return '\n'.join('  '.join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in [header, *body]) + '\n'


def _short(value: Any) -> str:
    return f'{value:.4g}' if isinstance(value, float) else str(value)


def _has_summary(folder: Path) -> bool:
    run = run_folder(folder)
    return run is not None and (run / 'summary.json').exists()




def _terminate(process: subprocess.Popen[bytes] | None, pid: int) -> None:
    """SIGTERM (a Routine ends it as an interruption, saving last.pt), then SIGKILL after W&B's 30 s."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if process is not None:
        try:
            process.wait(timeout=_KILL_DELAY_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _last_error_line(log: Path) -> str:
    if not log.exists():
        return ''
    lines = [line.strip() for line in log.read_text(errors='replace').splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith('error:') or 'Error' in line.split(':', 1)[0]]
    return (errors or lines or [''])[-1][:300]


def _gpus() -> list[str]:
    """The GPUs trials are dealt: CUDA_VISIBLE_DEVICES when set, else what nvidia-smi lists (none without it)."""
    visible = os.environ.get('CUDA_VISIBLE_DEVICES')
    if visible is not None:
        return [device for device in visible.split(',') if device.strip()]
    if shutil.which('nvidia-smi') is None:
        return []
    try:
        listing = subprocess.run(['nvidia-smi', '-L'], capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [str(index) for index, line in enumerate(listing.splitlines()) if line.startswith('GPU ')]


def _trial_environment(workers: int, gpu: str | None) -> dict[str, str]:
    """The environment of a trial: this one, with the CPU's threads divided among the workers, one GPU each when
    there are several, and W&B offline unless WANDB_MODE says otherwise (a sweep here needs no W&B server)."""
    environment = dict(os.environ)
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    for variable in ('OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
        environment.setdefault(variable, threads)
    if gpu is not None:
        environment['CUDA_VISIBLE_DEVICES'] = gpu
    environment.setdefault('WANDB_MODE', 'offline')
    environment.setdefault('PYTHONUNBUFFERED', '1')
    return environment
