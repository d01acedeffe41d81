"""Project exceptions. Library code raises these; only the CLI turns them into messages and exit codes."""


class FaceRestoreError(Exception):
    """Base class for every error facerestore raises on purpose."""


class ImageError(FaceRestoreError):
    """An input image could not be read or decoded (per-file: the run goes on)."""


class UnreadFormatError(ImageError):
    """An input is a photo in a format facerestore does not read (``unread_formats``), whatever its name."""


class OutputError(FaceRestoreError):
    """An output could not be written (disk full, read-only folder...).

    ``fatal`` marks failures no later file can escape (no space, read-only file system): the run stops.
    """

    def __init__(self, message: str, *, fatal: bool = False):
        super().__init__(message)
        self.fatal = fatal


class StdoutError(FaceRestoreError):
    """stdout cannot take the command's data (a full disk under ``> results.jsonl``): the command stops."""


class ModelError(FaceRestoreError):
    """A model file is missing, corrupt, or does not fit the model contract."""


class DeviceUnavailableError(FaceRestoreError):
    """The requested execution device (e.g. CUDA) cannot be used."""


class DegradationSpecError(FaceRestoreError, ValueError):
    """A degradation chain such as ``posterize:12,jpeg:20`` could not be parsed."""


class UsageError(FaceRestoreError):
    """The command line asks for something impossible (e.g. an output folder inside an input folder): exit 2."""
