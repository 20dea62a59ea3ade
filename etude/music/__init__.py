"""The music tasks, one package each: everything about a task in one home.

    etude.music.generation       a note model writes pieces (seed 002): task, NoteLSTM, sampling, baselines, measures
    etude.music.transcription    audio to notes (seed 001): task, PianoTranscriber, decoding, scoring, baseline
    etude.music.performance      a score played as a pianist would (seed 000): task, codec, alignment, HAN and LSTM

Each package holds its task kind, its models, its data adapter, its baselines and measures, its figures, its listening
set, its shipped routine (`routine.py`) and its documentation page (`README.md`). The packages never import each other
(`lint-imports` holds them to it): what two tasks share belongs in `etude.data`, `etude.models` or the core. A new
music task is a new package here and one line in `setup.py` that registers its kind (entry point group `etude.tasks`).
"""
