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


def file_error_message(e: OSError) -> str | None:
    """One line for an OSError about a path (a file the user named that is missing, a folder that is
    a file, a symlink loop), or None for one that is not about a path (a refused connection)."""
    import errno
    from pathlib import Path

    if not e.filename:
        return None
    path = str(e.filename)
    why = {
        errno.ENOENT: "no such file or folder",
        errno.ENOTDIR: "a file where a folder is needed",
        errno.EEXIST: "a file where a folder is needed" if Path(path).is_file() else "already exists",
        errno.EISDIR: "a folder where a file is needed",
        errno.ELOOP: "a symlink loop (too many levels of symbolic links)",
        errno.EACCES: "permission denied",
        errno.ENOSPC: "no space left on the device",
        errno.EROFS: "on a read-only file system",
    }.get(e.errno, e.strerror or type(e).__name__)
    return f"{path}: {why}"
