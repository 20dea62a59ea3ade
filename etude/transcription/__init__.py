"""Piano transcription: audio of any length to MIDI notes (onsets, offsets, velocities), after Kong et al. (2021).

The parts are plain functions and small classes, each in its own module, so the routine, `etude infer` and the
benchmarks share them:

- `data`: rendered Bach chorales (FluidSynth) and MAESTRO as recordings with note lists, cut into segments whose
  piano-roll targets are computed on the fly from the notes;
- `decoding`: frame outputs to notes (onset peak picking with Kong's regression refinement), and whole files
  transcribed in overlapping segments stitched without duplicated notes;
- `scoring`: note and frame precision / recall / F1 with mir_eval, per piece and averaged;
- `baseline`: a transcriber that learns nothing (spectral flux onsets, pitches from spectral peaks).

Nothing heavy is imported here; each module imports torch or mir_eval itself.
"""
