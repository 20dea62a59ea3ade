"""`etude listen demo`: chorales rendered with FluidSynth become a MUSHRA test whose conditions really differ."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
from conftest import ROOT, needs_fluidsynth
from scipy import signal

from etude.listening.plan import load_plan


@pytest.mark.slow
@needs_fluidsynth
def test_demo_builds_a_mushra_test_from_rendered_chorales(tmp_path: Path) -> None:
    directory = tmp_path / 'demo'
    result = subprocess.run([sys.executable, '-m', 'etude', 'listen', 'demo', str(directory), '--items', '2', '--seconds', '3', '--sample-rate', '32000'],
                            capture_output=True, text=True, cwd=tmp_path, env={**os.environ, 'PYTHONPATH': str(ROOT)}, timeout=240)
    assert result.returncode == 0, result.stderr
    assert f'etude listen serve {directory}' in result.stdout
    plan = load_plan(directory)
    assert plan.kind == 'mushra' and len(plan.items) == 2
    assert plan.conditions[:3] == ('reverb', 'mp3', 'vorbis') and plan.conditions[-3:] == ('hidden_reference', 'anchor_7000hz', 'anchor_3500hz')
    for page in plan.pages:
        identifiers = (*page.stimuli, page.reference)
        audio = {plan.stimuli[identifier].condition: soundfile.read(directory / plan.stimuli[identifier].file) for identifier in identifiers}
        reference, rate = audio['reference']
        assert rate == 32_000 and reference.ndim == 1 and reference.size == 3 * 32_000
        assert np.abs(reference).max() > 0.01, 'the render is not silent'
        frequencies, reference_power = signal.welch(reference, rate, nperseg=2048)
        for condition in plan.conditions:
            samples, _ = audio[condition]
            assert samples.shape == reference.shape, condition
            error = np.sum((samples - reference) ** 2) / np.sum(reference ** 2)
            if condition == 'hidden_reference':
                assert error == 0
            else:
                assert error > 1e-4, f'{condition} differs audibly from the reference'
        _, anchor_power = signal.welch(audio['anchor_3500hz'][0], rate, nperseg=2048)
        high = frequencies > 5000
        assert anchor_power[high].sum() < 1e-4 * reference_power[high].sum()
    assert json.loads((directory / 'plan.json').read_text())['title'].startswith('etude demo')
