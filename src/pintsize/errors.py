"""User-facing errors: the CLI prints these as one clear message, never as a traceback."""


class PintsizeError(Exception):
    """Something the user can fix: bad input, a bad recipe, a missing file. The message names where."""


class RecipeError(PintsizeError):
    pass


class CheckpointError(PintsizeError):
    pass


class DataError(PintsizeError):
    pass
