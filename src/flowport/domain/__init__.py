"""Pure domain values and rules: no framework, no database, no engine."""
