#!/usr/bin/env bash
# Install an official etude dataset: bin/install-dataset.sh NAME [DIR]   (DIR defaults to ./data)
#   bin/install-dataset.sh --list      list the datasets, their size, licence and source
#   bin/install-dataset.sh -h          all options
# A shim over `etude data list` / `etude data install NAME --dir DIR` (what a pip install has): all the work (resumable
# download, checksum and archive checks, safe extraction) happens in etude/data/download.py. This wrapper only turns
# its arguments into that command's, picks the right Python and makes the package importable from any cwd, so
# relative DIR arguments keep meaning the caller's folder. ETUDE_PYTHON forces an interpreter.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="${repo_root}${PYTHONPATH:+:${PYTHONPATH}}"

if [[ -n "${ETUDE_PYTHON:-}" ]]; then
	python_cmd=("${ETUDE_PYTHON}")
elif [[ "${PIPENV_ACTIVE:-}" == 1 ]] && command -v python >/dev/null 2>&1; then
	# Already inside `pipenv shell` / `pipenv run`: its python is on PATH, and a nested pipenv call only costs time.
	python_cmd=(python)
elif [[ -f "${repo_root}/Pipfile" ]] && command -v pipenv >/dev/null 2>&1 \
	&& PIPENV_PIPFILE="${repo_root}/Pipfile" pipenv --venv >/dev/null 2>&1; then
	export PIPENV_PIPFILE="${repo_root}/Pipfile"
	python_cmd=(pipenv run python)
else
	python_cmd=(python3)
fi

# NAME [DIR] [--url URL] [--quiet] → data install NAME --dir DIR ...; --list → data list; anything else is passed on,
# so etude reports a mistake in its usual one line
listing=0
words=()
options=()
while (($#)); do
	case "$1" in
		--list) listing=1 ;;
		--url) options+=("$1"); if (($# > 1)); then options+=("$2"); shift; fi ;;
		-*) options+=("$1") ;;
		*) words+=("$1") ;;
	esac
	shift
done
if ((listing)); then
	exec "${python_cmd[@]}" -m etude data list "${words[@]}" "${options[@]}"
fi
if ((${#words[@]} >= 2)); then
	options=(--dir "${words[1]}" "${options[@]}")
	words=("${words[0]}" "${words[@]:2}")
fi
exec "${python_cmd[@]}" -m etude data install "${words[@]}" "${options[@]}"
