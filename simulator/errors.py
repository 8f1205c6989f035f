"""User-facing errors: the CLI prints their one-line message and exits with code 2."""


class UserError(ValueError):
    """Bad input from the user (a file, a key, a value, an option); the message is one line."""
