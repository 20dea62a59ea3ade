"""`etude listen from-run | create | serve | results | demo`: the listening-test commands.

Imports nothing heavy at import time (`etude -h` must answer at once): numpy, scipy, the web stack and matplotlib
load inside the subcommand that needs them.
"""

from __future__ import annotations

import argparse

from ..argument_types import positive_number, whole_number

__all__ = ['configure', 'run']


def _anchors(text: str) -> list[float]:
    """'3.5,7' → [3500.0, 7000.0] (kHz on the command line); '' or 'none' → []."""
    if text.strip().lower() in ('', 'none'):
        return []
    try:
        return [float(part) * 1000 for part in text.split(',')]
    except ValueError:
        raise argparse.ArgumentTypeError(f'--anchors takes cutoffs in kHz separated by commas, e.g. 3.5,7; got {text!r}') from None


def configure(parser: argparse.ArgumentParser) -> None:
    from ..cli import OneLineArgumentParser

    commands = parser.add_subparsers(dest='listen_command', metavar='SUBCOMMAND', parser_class=OneLineArgumentParser)
    from_run = commands.add_parser('from-run', help="a test of a run's held-out items, as its task offers them", description=(
        "Build a listening test of a finished run: its task writes held-out items (generated pieces beside the Markov chain's "
        'and test pieces; transcriptions re-synthesised beside the recordings; performances beside deadpan, rule and human ones), '
        'loudness-matched and trimmed to one length.'))
    from_run.add_argument('run_path', metavar='RUN', help='a finished run folder (runs/<id>) of a task that writes audio or MIDI')
    from_run.add_argument('test_dir', metavar='TEST_DIR', help='a new (or empty) folder for the test')
    from_run.add_argument('--kind', choices=('mushra', 'mos', 'ab'), help="the test (default: the task's own: mushra where a reference exists)")
    from_run.add_argument('--pieces', type=whole_number(1), default=4, metavar='N', help='held-out items (default 4)')
    from_run.add_argument('--seconds', type=positive_number, default=15.0, metavar='S', help='about how long each excerpt is (default 15)')
    from_run.add_argument('--data', metavar='DIR', help='the stored dataset the run trained on, if it has moved')
    from_run.add_argument('--device', default='cpu', metavar='D', help='cpu (default), auto, cuda, cuda:N or mps')
    from_run.add_argument('--allow-module', action='append', default=[], metavar='MODULE',
                          help='import the model class or task kind from this package (found in the current folder too); only code you trust')
    from_run.add_argument('--seed', type=int, help="base of the listeners' random orders and of the generated pieces (default 0 for the pieces, "
                                                   'random orders)')

    create = commands.add_parser('create', help='build a test from folders of audio paired by file name', description=(
        'Build a listening test in TEST_DIR from folders of audio files paired by name (refs/a.wav, outA/a.wav, ...).'))
    create.add_argument('test_dir', metavar='TEST_DIR', help='a new (or empty) folder for the test')
    create.add_argument('--kind', choices=('mushra', 'mos', 'ab'), required=True, help='MUSHRA (BS.1534), MOS (P.800 ACR) or A/B preference')
    create.add_argument('--reference', metavar='FOLDER', help='MUSHRA: the references (hidden reference and anchors are made from them)')
    create.add_argument('--condition', action='append', default=[], metavar='NAME=FOLDER', help='a condition and its folder; repeat for each')
    create.add_argument('--anchors', type=_anchors, default=None, metavar='KHZ,...', help='MUSHRA low-pass anchors in kHz (default 3.5,7; none for none)')
    create.add_argument('--loudness', type=float, default=None, metavar='LUFS', help='normalise every stimulus to this integrated loudness, e.g. -23')
    create.add_argument('--trim', action='store_true', help="cut each item's stimuli to the shortest instead of refusing unequal lengths")
    create.add_argument('--multi-stimulus', action='store_true', help='MOS: all conditions of an item on one page, 0-100 (BS.2132)')
    create.add_argument('--forced-choice', action='store_true', help='A/B: no "no preference" answer; listeners must pick one')
    create.add_argument('--allow-unplayed', action='store_true', help='let listeners submit a page before playing every stimulus')
    create.add_argument('--title', help='the title listeners see')
    create.add_argument('--seed', type=int, help="base of the listeners' random orders (default random)")

    serve = commands.add_parser('serve', help='serve the test and print the URL for listeners', description=(
        'Serve a listening test. Bound to 127.0.0.1 by default; with --host 0.0.0.0 (a lab network) every request needs '
        'the access token in the printed URL.'))
    serve.add_argument('test_dir', metavar='TEST_DIR')
    serve.add_argument('--host', default='127.0.0.1', help='address to bind (default 127.0.0.1)')
    serve.add_argument('--port', type=int, default=8000, help='port (default 8000; 0 picks a free one)')
    serve.add_argument('--token', help='the access token (default: generated when the host is not loopback)')

    results = commands.add_parser('results', help='statistics, box plots, results.csv, summary.json, report.html', description=(
        'Analyse the ratings: per-condition means with 95% confidence intervals, medians and quartiles, BS.1534 '
        'post-screening, Wilcoxon signed-rank tests with Holm correction, Friedman test, A/B binomial tests.'))
    results.add_argument('test_dir', metavar='TEST_DIR')
    results.add_argument('--output', metavar='DIR', help='where to write (default TEST_DIR/results)')
    results.add_argument('--no-screening', action='store_true', help='MUSHRA: keep every listener (skip BS.1534 post-screening)')

    demo = commands.add_parser('demo', help='a MUSHRA test from Bach chorales rendered with FluidSynth, offline', description=(
        'Build a MUSHRA demo test from Bach chorales (music21) rendered with the General MIDI soundfont installed here.'))
    demo.add_argument('test_dir', metavar='TEST_DIR')
    demo.add_argument('--items', type=int, default=4, help='chorales (default 4)')
    demo.add_argument('--seconds', type=float, default=8.0, help='length of each excerpt (default 8)')
    demo.add_argument('--sample-rate', type=int, default=44_100, help='sample rate of the renders (default 44100)')


def run(arguments: argparse.Namespace) -> int:
    from .plan import ListeningTestError

    command = arguments.listen_command
    if command is None:
        raise ListeningTestError('say what to do: etude listen from-run|create|serve|results|demo TEST_DIR (see etude listen -h)')
    if command == 'from-run':
        from .from_run import create_from_run

        plan = create_from_run(arguments.run_path, arguments.test_dir, kind=arguments.kind, pieces=arguments.pieces, seconds=arguments.seconds,
                               data=arguments.data, device=arguments.device, allow_modules=arguments.allow_module, seed=arguments.seed)
        print(f'{plan.kind} test with {len(plan.items)} items, {len(plan.conditions)} conditions ({", ".join(plan.conditions)}) '
              f'and {len(plan.pages)} pages in {arguments.test_dir}')
        print(f'serve it with: etude listen serve {arguments.test_dir}')
        return 0
    if command == 'create':
        return _create(arguments)
    if command == 'serve':
        from .server import serve

        serve(arguments.test_dir, host=arguments.host, port=arguments.port, token=arguments.token, announce=lambda line: print(line, flush=True))
        return 0
    if command == 'results':
        from .results import write_results

        summary = write_results(arguments.test_dir, output=arguments.output, screening=not arguments.no_screening)
        print(summary.describe())
        return 0
    from .demo import build_demo

    plan = build_demo(arguments.test_dir, items=arguments.items, seconds=arguments.seconds, sample_rate=arguments.sample_rate)
    print(f'demo MUSHRA test with {len(plan.items)} chorales and conditions {", ".join(plan.conditions)} in {arguments.test_dir}')
    print(f'serve it with: etude listen serve {arguments.test_dir}')
    return 0


def _create(arguments: argparse.Namespace) -> int:
    from .design import create_test, parse_condition
    from .plan import ListeningTestError

    conditions: dict[str, str] = {}
    for text in arguments.condition:
        name, folder = parse_condition(text)
        if name in conditions:
            raise ListeningTestError(f'condition {name!r} is given twice; give each condition one --condition')
        conditions[name] = str(folder)
    plan = create_test(
        arguments.test_dir,
        kind=arguments.kind,
        conditions=conditions,
        reference=arguments.reference,
        anchors_hz=arguments.anchors,
        loudness_lufs=arguments.loudness,
        trim_to_shortest=arguments.trim,
        must_play_all=not arguments.allow_unplayed,
        multi_stimulus=arguments.multi_stimulus,
        no_preference=not arguments.forced_choice,
        title=arguments.title,
        seed=arguments.seed,
    )
    print(f'{plan.kind} test with {len(plan.items)} items, {len(plan.conditions)} conditions ({", ".join(plan.conditions)}) '
          f'and {len(plan.pages)} pages in {arguments.test_dir}')
    print(f'serve it with: etude listen serve {arguments.test_dir}')
    return 0
