"""The pianos transcription renders with: General MIDI soundfonts Debian packages, and the piano programs of each.

A piano is a soundfont file and a General MIDI program (0 acoustic grand, 1 bright, 2 electric grand, 3 honky-tonk).
The programs kept are the ones that sound as distinct pianos, checked by rendering A3 held for 3 s on programs 0-4 of
every soundfont and comparing log spectrograms (correlation of the first 2 s): FluidR3's program 1 is its program 0
again (1.00), as FluidR3 Mono's is; the electric grand (program 2) is one sample shared by FluidR3, FluidR3 Mono and
MuseScore General (0.99-1.00), so it is kept once; csound's sf_GMbank plays TimGM6mb's piano (0.99 on program 0), so
it is not used at all. Programs 0-3 all decay as a struck string does (17-30 dB between 0.05 s and 2.5 s, against 9
for program 4's Rhodes) at the written pitch.

TimGM6mb is held out entirely: no program of it is ever a training piano, and the test pieces are rendered again on its
program 0, dry (`HELD_OUT_PIANO`), the piano the earlier `other_soundfont` figure (onset F1 0.768) was measured on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ...errors import MissingDependencyError

__all__ = ['HELD_OUT_PIANO', 'HELD_OUT_SOUNDFONT', 'TRAINING_PIANOS', 'Piano', 'RenderSettings', 'draw_piano', 'draw_render_settings']


@dataclass(frozen=True)
class Piano:
    """One piano: a soundfont file, the General MIDI program played on it, and the Debian package that installs the file."""

    soundfont: str
    program: int
    package: str
    name: str

    def path(self) -> Path:
        """The soundfont file; a MissingDependencyError (one line naming the package) when it is not installed."""
        path = Path(self.soundfont)
        if not path.is_file():
            raise MissingDependencyError(f'the {self.name} piano needs {path}; install it with: sudo apt-get install {self.package}')
        return path


_FLUID = '/usr/share/sounds/sf2/FluidR3_GM.sf2'
_MUSESCORE = '/usr/share/sounds/sf3/MuseScore_General_Lite.sf3'
_FLUID_MONO = '/usr/share/sounds/sf3/FluidR3Mono_GM.sf3'
HELD_OUT_SOUNDFONT = '/usr/share/sounds/sf2/TimGM6mb.sf2'

TRAINING_PIANOS = (
    Piano(_FLUID, 0, 'fluid-soundfont-gm', 'fluidr3-grand'),
    Piano(_FLUID, 2, 'fluid-soundfont-gm', 'fluidr3-electric-grand'),
    Piano(_FLUID, 3, 'fluid-soundfont-gm', 'fluidr3-honky-tonk'),
    Piano(_MUSESCORE, 0, 'musescore-general-soundfont-small', 'musescore-grand'),
    Piano(_MUSESCORE, 1, 'musescore-general-soundfont-small', 'musescore-bright-grand'),
    Piano(_MUSESCORE, 3, 'musescore-general-soundfont-small', 'musescore-honky-tonk'),
    Piano(_FLUID_MONO, 0, 'fluidr3mono-gm-soundfont', 'fluidr3-mono-grand'),
)
"""The pianos training (and validation and test) pieces are drawn from; none is TimGM6mb's."""
HELD_OUT_PIANO = Piano(HELD_OUT_SOUNDFONT, 0, 'timgm6mb-soundfont', 'timgm6mb-grand')
"""The piano the held-out-piano figures are measured on, never heard in training."""


@dataclass(frozen=True)
class RenderSettings:
    """FluidSynth's reverb and chorus for one render (FluidSynth's own ranges; off: dry, as the earlier renders were)."""

    reverb: bool = False
    room_size: float = 0.2
    damping: float = 0.0
    reverb_level: float = 0.9
    chorus: bool = False
    chorus_depth: float = 8.0
    chorus_level: float = 2.0

    def synth_settings(self) -> dict[str, float]:
        """The `-o` settings of `render_midi` (only the switched-on effect's shape)."""
        settings: dict[str, float] = {}
        if self.reverb:
            settings |= {'synth.reverb.room-size': self.room_size, 'synth.reverb.damp': self.damping, 'synth.reverb.level': self.reverb_level}
        if self.chorus:
            settings |= {'synth.chorus.depth': self.chorus_depth, 'synth.chorus.level': self.chorus_level}
        return settings


def _generator(seed: int, name: str, purpose: str) -> np.random.Generator:
    """A generator of its own for each piece and purpose, so one piece's draw does not move when others are added."""
    import hashlib

    digest = hashlib.sha256(f'{purpose}/{name}'.encode()).hexdigest()
    return np.random.default_rng([seed, int(digest[:8], 16)])


def draw_piano(name: str, seed: int, pianos: tuple[Piano, ...] = TRAINING_PIANOS) -> Piano:
    """The training piano piece `name` is rendered on, drawn uniformly with the run's seed."""
    return pianos[int(_generator(seed, name, 'piano').integers(len(pianos)))]


def draw_render_settings(name: str, seed: int, reverb_probability: float = 0.5, chorus_probability: float = 0.3) -> RenderSettings:
    """Piece `name`'s reverb and chorus: each on with its probability, its shape drawn from a moderate range (a small to
    large room, any damping, level 0.1-0.6; chorus depth 2-8 ms, level 0.3-1.5), so the note offsets stay audible."""
    generator = _generator(seed, name, 'render')
    values = generator.random(7)
    return RenderSettings(reverb=bool(values[0] < reverb_probability), room_size=round(0.1 + 0.7 * values[1], 3), damping=round(values[2], 3),
                          reverb_level=round(0.1 + 0.5 * values[3], 3), chorus=bool(values[4] < chorus_probability),
                          chorus_depth=round(2 + 6 * values[5], 3), chorus_level=round(0.3 + 1.2 * values[6], 3))
