"""Exceptions: one metaidx.Error subclass per mx_status, carrying the
library's message (which names the file, row, key or parameter at fault)."""


from ._capi import lib, Error as _CError


class Error(Exception):
    """Base of every metaidx failure. `status` is the mx_status value,
    `status_name` its C name ("MX_ERR_CORRUPT"), str(e) the message."""

    status = None

    def __init__(self, message, status=None):
        super().__init__(message)
        if status is not None:
            self.status = status

    @property
    def status_name(self):
        return lib.mx_status_name(self.status).decode()

    @property
    def message(self):
        return str(self)


def _status(value, name, doc, *bases):
    cls = type(name, (Error,) + bases, {"status": value, "__doc__": doc,
                                         "__module__": "metaidx"})
    return cls


InvalidArgumentError = _status(1, "InvalidArgumentError",
                               "MX_ERR_INVALID_ARGUMENT: a parameter, shape or dtype is wrong.",
                               ValueError)
IoError = _status(2, "IoError", "MX_ERR_IO: an input/output error.", OSError)
NoMemoryError = _status(3, "NoMemoryError", "MX_ERR_NO_MEMORY: out of memory.", MemoryError)
NotFoundError = _status(4, "NotFoundError", "MX_ERR_NOT_FOUND: no index (or document) there.")
ExistsError = _status(5, "ExistsError", "MX_ERR_EXISTS: the index or id exists already.")
FormatError = _status(6, "FormatError", "MX_ERR_FORMAT: not a metaidx file, or malformed.")
VersionError = _status(7, "VersionError", "MX_ERR_VERSION: the format is newer than the library.")
CorruptError = _status(8, "CorruptError", "MX_ERR_CORRUPT: data corrupted (checksum mismatch).")
BadInputError = _status(9, "BadInputError",
                        "MX_ERR_BAD_INPUT: invalid input data (NaN/Inf, zero or "
                        "unnormalised vectors, no documents).", ValueError)
DiskFullError = _status(10, "DiskFullError", "MX_ERR_DISK_FULL: no space left on device.",
                        OSError)
MapFullError = _status(11, "MapFullError", "MX_ERR_MAP_FULL: the storage map is full.")
StorageError = _status(12, "StorageError", "MX_ERR_STORAGE: storage engine error.")
CoarseError = _status(13, "CoarseError", "MX_ERR_COARSE: coarse (FAISS) index error.")
UnsupportedError = _status(14, "UnsupportedError", "MX_ERR_UNSUPPORTED: not supported.")
BusyError = _status(15, "BusyError",
                    "MX_ERR_BUSY: resource busy (another build; more searches than reader "
                    "slots).")
StateError = _status(16, "StateError",
                     "MX_ERR_STATE: call not valid in the handle's current state (e.g. a "
                     "closed Index).")
InternalError = _status(17, "InternalError", "MX_ERR_INTERNAL: internal error.")

BY_STATUS = {cls.status: cls for cls in (
    InvalidArgumentError, IoError, NoMemoryError, NotFoundError, ExistsError, FormatError,
    VersionError, CorruptError, BadInputError, DiskFullError, MapFullError, StorageError,
    CoarseError, UnsupportedError, BusyError, StateError, InternalError)}


def raise_status(status, message=""):
    """Raises the Error subclass of `status` with `message` (or the
    library's generic text for the status)."""
    cls = BY_STATUS.get(status)
    if not message:
        message = lib.mx_status_str(status).decode()
    if cls is None:  # a status newer than this module
        raise Error(f"{message} (status {status})", status)
    raise cls(message)


def check(status, err):
    """Raises for a failing mx_status, with the message of `err` (an
    _capi.Error filled by the call)."""
    if status != 0:
        raise_status(status, err.message.decode("utf-8", "replace"))


def new_error():
    return _CError()


def invalid(message):
    """The exception for an argument refused before the C call."""
    return InvalidArgumentError(message)


__all__ = ["Error", "raise_status", "check"] + [c.__name__ for c in BY_STATUS.values()]
