"""Applications the harness serves itself (standard library only: mod_wsgi runs them too)."""
