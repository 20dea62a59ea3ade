"""The command of one trial, built from the sweep's `command` with W&B's macros, as `wandb agent` builds it.

    ${env}                  /usr/bin/env (nothing on Windows)
    ${interpreter}          the Python running `etude sweep` (W&B's agent writes `python`, which is the same
                            interpreter when the agent runs inside the project's environment)
    ${program}              the sweep's program:
    ${args}                 --key=value for each parameter        ${args_no_hyphens}        key=value
    ${args_no_equals}       --key value                           ${args_no_boolean_flags}  --key for true, nothing for false
    ${args_json}            the values as one JSON string         ${args_json_file}         the path of a file holding that JSON
    ${args_append_hydra}    +key=value                            ${args_override_hydra}    ++key=value
    ${envvar:NAME}          the environment variable NAME (left as NAME when unset), anywhere in a word

Any other macro is refused when the sweep file is read (W&B's agent would drop it without a word).

Values are written as W&B writes them, with Python's str(): True, [1, 2], {'lr': 0.1} for a nested parameter.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ['MACROS', 'check_macros', 'macro_values', 'trial_command']

_ENVIRONMENT_VARIABLE = re.compile(r'\$\{envvar:([A-Za-z_][A-Za-z0-9_]*)\}')
_MACRO = re.compile(r'\$\{([^}]*)\}')
# every macro W&B's agent replaces, each only as a whole word of the command; ${envvar:NAME} anywhere in a word
MACROS = ('env', 'interpreter', 'program', 'args', 'args_no_hyphens', 'args_no_equals', 'args_no_boolean_flags', 'args_json', 'args_json_file',
          'args_append_hydra', 'args_override_hydra')


def check_macros(command: Sequence[str], source: str) -> None:
    """Refuse a macro W&B does not have (`${arg}` for `${args}`): W&B's agent drops it without a word, so every trial
    would run without the sweep's values, with the routine's defaults. A W&B macro inside a longer word is refused
    too, since the agent replaces only whole words and would pass it on as it is."""
    for word in command:
        for name in _MACRO.findall(_ENVIRONMENT_VARIABLE.sub('', str(word))):
            if name not in MACROS:
                nearest = difflib.get_close_matches(name, [*MACROS, 'envvar:NAME'], n=1, cutoff=0.5)
                hint = f' (did you mean ${{{nearest[0]}}}?)' if nearest else ''
                raise ConfigError(f'command in {source} has the macro ${{{name}}}, which W&B does not have{hint}; its macros are '
                                  + ', '.join(f'${{{macro}}}' for macro in (*MACROS, 'envvar:NAME')))
            if str(word) != f'${{{name}}}':
                raise ConfigError(f"command in {source} has ${{{name}}} inside the word '{word}'; W&B replaces a macro only when it is a whole "
                                  'word of the list, so give it a word of its own')


def macro_values(values: Mapping[str, Any]) -> dict[str, list[str]]:
    """Each ${args...} macro's expansion for one trial's values (top-level names; nested ones are dicts)."""
    flags, no_hyphens, no_booleans, no_equals, append_hydra, override_hydra = [], [], [], [], [], []
    for name, value in values.items():
        flag = f'{name}={value}'
        flags.append(f'--{flag}')
        no_hyphens.append(flag)
        no_equals += [f'--{name}', str(value)]
        append_hydra.append(f'+{flag}')
        override_hydra.append(f'++{flag}')
        if isinstance(value, bool):
            if value:
                no_booleans.append(f'--{name}')
        else:
            no_booleans.append(f'--{flag}')
    return {'args': flags, 'args_no_hyphens': no_hyphens, 'args_no_boolean_flags': no_booleans, 'args_no_equals': no_equals,
            'args_json': [json.dumps(dict(values))], 'args_append_hydra': append_hydra, 'args_override_hydra': override_hydra}


def trial_command(command: Sequence[str], values: Mapping[str, Any], *, program: str | None, json_file: Path) -> list[str]:
    """`command` with every macro replaced (a whole-word macro becomes zero or more words, as in W&B's agent)."""
    variables = {**macro_values(values), 'interpreter': [sys.executable], 'program': [program] if program else [],
                 'env': [] if os.name == 'nt' else ['/usr/bin/env'], 'args_json_file': [str(json_file)]}
    words: list[str] = []
    for part in command:
        part = _ENVIRONMENT_VARIABLE.sub(lambda match: os.environ.get(match.group(1), match.group(1)), str(part))
        if part.startswith('${') and part.endswith('}'):
            if part == '${args_json_file}':
                json_file.parent.mkdir(parents=True, exist_ok=True)
                json_file.write_text(variables['args_json'][0])
            words += variables.get(part[2:-1]) or []
        else:
            words.append(part)
    return words
