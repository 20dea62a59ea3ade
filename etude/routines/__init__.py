"""The routines shipped with etude: one module each, of declarations (DEFAULTS, TESTING, PROJECT) and a `build` function."""
