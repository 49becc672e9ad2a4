"""Built-in mapping profiles (``*.yaml`` in this directory), one per known vendor format."""
