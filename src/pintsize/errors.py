"""User-facing errors: the CLI prints these as one clear message, never as a traceback."""


class PintsizeError(Exception):
    """Something the user can fix: bad input, a bad recipe, a missing file. The message names where."""


class RecipeError(PintsizeError):
    pass


class CheckpointError(PintsizeError):
    pass


class DataError(PintsizeError):
    pass


class Reported(SystemExit):
    """End the process with this exit status and say nothing more: a child process has said it
    (`pintsize run` whose stages ran in a child that was interrupted)."""
