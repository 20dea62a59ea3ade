"""A small program with etude's run-folder contract, for the sweep runner's tests: it "trains" for `epochs` epochs,
writing runs/<id>/config.yaml, one metrics.jsonl line per epoch and summary.json, like a Routine, in well under a
second per epoch. Its validation_loss is `quality / epoch`, so a larger quality is a poorer trial at every epoch.

    python curve.py --quality=3 --epochs=4 --runs-dir DIR [--fail_on=3] [--seconds=0.2] [--resume DIR]
"""

import argparse
import json
import sys
import time
import uuid
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument('--quality', type=float, required=True)
parser.add_argument('--epochs', type=int, default=4)
parser.add_argument('--seconds', type=float, default=0.2)
parser.add_argument('--fail_on', type=float, default=None)
parser.add_argument('--runs-dir', required=True)
parser.add_argument('--resume', default=None)
arguments = parser.parse_args()
if arguments.fail_on is not None and arguments.quality == arguments.fail_on:
    print(f'error: quality {arguments.quality} is not allowed here; choose another', file=sys.stderr)
    raise SystemExit(2)
run = Path(arguments.resume) if arguments.resume else Path(arguments.runs_dir) / uuid.uuid4().hex[:8]
run.mkdir(parents=True, exist_ok=True)
(run / 'config.yaml').write_text(f'quality: {arguments.quality}\nepochs: {arguments.epochs}\n')
metrics = run / 'metrics.jsonl'
done = len(metrics.read_text().splitlines()) if metrics.exists() else 0
for epoch in range(done + 1, arguments.epochs + 1):
    time.sleep(arguments.seconds)
    with metrics.open('a') as file:
        file.write(json.dumps({'epoch': epoch, 'training_loss': arguments.quality / epoch, 'validation_loss': arguments.quality / epoch,
                               'validation_metrics': {}}) + '\n')
    (run / 'checkpoints').mkdir(exist_ok=True)
    (run / 'checkpoints' / 'last.pt').write_text(str(epoch))
(run / 'summary.json').write_text(json.dumps({'run_id': run.name, 'test': {'loss': arguments.quality / arguments.epochs}, 'baselines': {},
                                              'best_epoch': arguments.epochs}))
