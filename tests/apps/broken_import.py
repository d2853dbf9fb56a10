"""An application module that cannot be imported."""

raise RuntimeError("this application is broken on purpose")
