"""Configuration files for the apacheconf tests, and a helper to write more."""
