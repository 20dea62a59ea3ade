"""The command of one trial, built from the sweep's `command` with W&B's macros, as `wandb agent` builds it.

    ${env}                  /usr/bin/env (nothing on Windows)
    ${interpreter}          the Python running `etude sweep` (W&B's agent writes `python`, which is the same
                            interpreter when the agent runs inside the project's environment)
    ${program}              the sweep's program:
    ${args}                 --key=value for each parameter        ${args_no_hyphens}        key=value
    ${args_no_equals}       --key value                           ${args_no_boolean_flags}  --key for true, nothing for false
    ${args_json}            the values as one JSON string         ${args_json_file}         the path of a file holding that JSON
    ${args_append_hydra}    +key=value                            ${args_override_hydra}    ++key=value
    ${envvar:NAME}          the environment variable NAME (left as NAME when unset)

Values are written as W&B writes them, with Python's str(): True, [1, 2], {'lr': 0.1} for a nested parameter.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ['macro_values', 'trial_command']

_ENVIRONMENT_VARIABLE = re.compile(r'\$\{envvar:([A-Z0-9_]*)\}')


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
