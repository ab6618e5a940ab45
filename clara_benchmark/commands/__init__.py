"""The commands: each parses nothing (the CLI gives it a typed config), calls the library, writes products
and logs a summary. ``run(config, ctx) -> exit code``."""
