"""Run-level helpers shared by every command: log format, system monitor, atomic file writes."""
