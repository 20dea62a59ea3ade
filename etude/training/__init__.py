"""Training from the command line: `etude train ROUTINE`, over the shipped routines (`etude.routines`) or a user's own.

`routines` finds and checks a routine; `listing` describes its keys for `-h`; `resume_command` writes the command that
continues an interrupted run; `command` is the `etude train` subcommand itself (scripts/train.py is a shim over it).
"""
