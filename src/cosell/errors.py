"""The one error type a user sees: a one-line reason, no stack trace."""


class CosellError(Exception):
    """A failure caused by input or state the user can fix; str(error) is the one-line reason."""
