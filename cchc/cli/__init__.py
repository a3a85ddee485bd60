"""The `cchc` command."""
