"""`etude train ROUTINE -h`: every key a routine takes, with its type, default and description."""

from __future__ import annotations

from .routines import RoutineDefinition

__all__ = ['settings_listing']


def settings_listing(routine: RoutineDefinition) -> str:
    """Hyperparameters, then run options, one key a line (`key=default  type  description`), then what --testing sets."""
    from ..parameters import describe_type
    from ..run_options import RunOptions

    sections = []
    for title, settings in (('hyperparameters (recorded with the model)', routine.defaults), ('run options (how this run executes)', RunOptions())):
        descriptions = settings.field_descriptions()
        lines = [f'{title}:']
        for key, expected in settings.field_types().items():
            value = getattr(settings, key)
            shown = list(value) if isinstance(value, tuple) else value
            description = descriptions.get(key, '').split('\n')[0]
            lines.append(f'  {key}={shown!s:<22} {describe_type(expected):<28} {description}'.rstrip())
        sections.append('\n'.join(lines))
    if routine.testing:
        testing = ' '.join(f'{key}={value}' for key, value in routine.testing.items())
        sections.append(f'--testing sets: {testing} (a --config file or key=value still wins)')
    return '\n\n'.join(sections)
