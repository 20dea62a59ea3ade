"""The single place the package version lives (setup.py reads it without importing torch)."""

__version__ = '0.1.0'
