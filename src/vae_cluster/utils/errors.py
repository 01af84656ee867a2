"""User-facing errors: the CLI prints their message as one line and exits with code 2."""


class UserError(Exception):
    """A problem with the user's input (config, data, paths), not a bug."""


class AudioError(Exception):
    """One audio file could not be used (corrupt, empty, too short); the item is skipped and listed."""


class InternalError(Exception):
    """A failure that is not the user's (a bug, a crash in a job): one line on the terminal, exit code 1."""


class TransientAudioError(AudioError):
    """The file could not be read this time (permissions, an I/O error on a network share): the item is
    skipped like any AudioError, but the failure is never cached, so a later run tries the file again."""
