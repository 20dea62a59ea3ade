"""Note generation: sampling from a note model, likelihoods on a common footing, baselines and the measures of a generated set.

    from etude.generation.sampling import sample_notes
    from etude.generation.baselines import UnigramNotes, MarkovNotes
    from etude.generation.measures import histogram_divergences, relative_measures, longest_copied_runs

Modules import torch, scipy and matplotlib themselves, so importing `etude.generation` costs nothing.
"""
