"""safe_npz -- read and write .npz files without trusting them.

Why this module exists: ``np.load`` on a damaged or hostile ``.npz`` raises
exceptions from deep inside zipfile, zlib or the .npy header parser
(``BadZipFile``, ``zlib.error``, ``EOFError``, ``struct.error``...), which tell a
learner nothing, and it allocates whatever the file's headers claim before
finding out that the data is not there (a 1 GiB array promised by 100 bytes).
``read_npz`` opens the archive with zipfile directly and checks everything
before it allocates:

* the file is a zip archive (not a .npy, not text, not empty);
* every member is ``<identifier>.npy``, stored or deflated, not encrypted,
  no duplicates, the ``required`` names present and nothing outside ``allowed``;
* the uncompressed sizes the archive declares add up to at most ``max_bytes``
  (a zip bomb is refused before a byte is inflated), and zipfile never inflates
  past a declared size, then checks the CRC, so a lying size ends in an error;
* each .npy header is parsed on its own (no pickle, no object dtypes) and its
  shape times itemsize must equal the bytes the member really declares.

Every problem is a ``FileNotFoundError`` (missing file) or a ``ValueError`` that
names the file and says what is wrong and what was expected.

``write_npz_atomic`` writes a temporary file beside the target, fsyncs it and
renames it over the target, so a crash or Ctrl-C never leaves half a file.
"""
import io
import math
import os
import struct
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Mapping

import numpy as np

__all__ = ["read_npz", "write_npz_atomic"]

_CHUNK = 1 << 20            # bytes inflated per read: memory stays bounded
_MAX_HEADER = 10000         # numpy's own limit for a .npy header
_NPY_MAGIC = b"\x93NUMPY"
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
# What zipfile / zlib / numpy raise on damaged bytes: all become "corrupt or truncated".
_DEEP_ERRORS = (zlib.error, zipfile.BadZipFile, EOFError, OSError, struct.error, ValueError,
                KeyError, NotImplementedError, TypeError, OverflowError, SyntaxError,
                RecursionError, IndexError)


class _Refused(ValueError):
    """Our own verdict on the file (its message is final), as opposed to a deep error."""


def read_npz(path, what="file", required=None, allowed=None, max_bytes=512 * 2**20):
    """Read the arrays of a .npz archive without trusting it.

    ``path`` str or path-like; ``what`` names the file in messages ("MNIST file");
    ``required`` names (without ".npy") that must be present; ``allowed`` the only
    names accepted (None: any identifier); ``max_bytes`` the largest total of
    declared uncompressed sizes. Returns {name: writable ndarray} in archive order
    (any shape, 0-d included: checking shapes and dtypes is the caller's job).
    Raises FileNotFoundError if ``path`` does not exist, ValueError for anything else.
    """
    path = os.fsdecode(os.fspath(path))
    where = f"{what} {path!r}"
    required = _names(required, "required")
    allowed = None if allowed is None else _names(allowed, "allowed")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{where} does not exist")
    if os.path.isdir(path):
        raise ValueError(f"{where} is a folder, expected a .npz file")
    if not os.path.isfile(path):
        raise ValueError(f"{where} is not a regular file, expected a .npz file")
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"{where} does not exist") from None
    except OSError as exc:
        raise ValueError(f"{where} cannot be opened ({exc.strerror or exc})") from None
    try:
        with fh:
            return _read_archive(fh, where, required, allowed, max_bytes)
    except _Refused as exc:
        raise ValueError(str(exc)) from None
    except _DEEP_ERRORS as exc:
        reason = f"{type(exc).__name__}: {exc}"
        if len(reason) > 200:
            reason = reason[:200] + "..."
        raise ValueError(f"{where} is corrupt or truncated ({reason})") from exc


def _names(names, argument):
    if isinstance(names, (str, bytes)):
        raise TypeError(f"{argument} must be an iterable of array names, not the string {names!r}")
    return [] if names is None else list(names)


def _read_archive(fh, where, required, allowed, max_bytes):
    head = fh.read(len(_NPY_MAGIC))
    if not head:
        raise _Refused(f"{where} is empty, expected a .npz archive")
    if head == _NPY_MAGIC:
        raise _Refused(f"{where} is a .npy file (one array), expected a .npz archive "
                       "(several named arrays, as np.savez writes)")
    fh.seek(0)
    try:
        zf = zipfile.ZipFile(fh)
    except zipfile.BadZipFile:
        if head.startswith(b"PK\x03\x04"):  # starts like a zip: cut short or damaged
            raise _Refused(f"{where} is corrupt or truncated (no zip directory at its end)") from None
        raise _Refused(f"{where} is not a .npz (zip) archive") from None
    with zf:
        infos = zf.infolist()
        seen = set()
        for info in infos:
            member = info.filename
            name = member[:-4]
            if not member.endswith(".npy") or not name.isidentifier():
                raise _Refused(f"{where} holds the member {member!r}, expected only "
                               "<name>.npy arrays whose name is a Python identifier")
            if name in seen:
                raise _Refused(f"{where} holds the member {member!r} twice, expected each array once")
            seen.add(name)
            if allowed is not None and name not in allowed:
                raise _Refused(f"{where} holds the unexpected array {name!r}, "
                               f"expected only {sorted(allowed)}")
            if info.flag_bits & 0x1:
                raise _Refused(f"{where}: member {member!r} is encrypted, expected a plain .npz")
            if info.compress_type not in _METHODS:
                raise _Refused(f"{where}: member {member!r} uses zip compression method "
                               f"{info.compress_type}, expected 0 (stored) or 8 (deflated)")
        missing = [name for name in required if name not in seen]
        if missing:
            raise _Refused(f"{where} lacks the arrays {missing}, expected {sorted(required)} "
                           f"(it holds {sorted(seen)})")
        total = sum(info.file_size for info in infos)
        if total > max_bytes:
            raise _Refused(f"{where} declares {total:,} bytes of arrays, more than "
                           f"max_bytes={max_bytes:,} (a zip bomb, or the wrong file?)")
        arrays = {}
        for info in infos:
            with zf.open(info) as fp:
                arrays[info.filename[:-4]] = _read_member(fp, info, where)
        return arrays


def _read_exact(fp, n, where, member, part):
    data = fp.read(n)
    if len(data) != n:
        raise _Refused(f"{where} is corrupt or truncated (member {member!r} ends inside its {part})")
    return data


def _read_member(fp, info, where):
    """One .npy member: header checked first, then exactly the promised bytes."""
    member = info.filename
    start = _read_exact(fp, len(_NPY_MAGIC) + 2, where, member, ".npy magic")
    version = (start[-2], start[-1])
    if start[:len(_NPY_MAGIC)] != _NPY_MAGIC:
        raise _Refused(f"{where}: member {member!r} is not a .npy array (no \\x93NUMPY magic)")
    if version not in ((1, 0), (2, 0)):
        raise _Refused(f"{where}: member {member!r} uses .npy format version {version[0]}.{version[1]}, "
                       "expected 1.0 or 2.0")
    length_format = "<H" if version == (1, 0) else "<I"
    length_bytes = _read_exact(fp, struct.calcsize(length_format), where, member, ".npy header")
    (header_length,) = struct.unpack(length_format, length_bytes)
    if header_length > _MAX_HEADER:
        raise _Refused(f"{where}: member {member!r} has a .npy header of {header_length:,} bytes, "
                       f"expected at most {_MAX_HEADER:,}")
    header = _read_exact(fp, header_length, where, member, ".npy header")
    reader = (np.lib.format.read_array_header_1_0 if version == (1, 0)
              else np.lib.format.read_array_header_2_0)
    with warnings.catch_warnings():  # a header written by Python 2 is parsed, not warned about
        warnings.simplefilter("ignore", UserWarning)
        shape, fortran_order, dtype = reader(io.BytesIO(length_bytes + header),
                                             max_header_size=_MAX_HEADER)
    if dtype.hasobject:
        raise _Refused(f"{where}: member {member!r} holds Python objects (dtype {dtype}), which "
                       "would need pickle to load; expected plain numeric arrays")
    if dtype.itemsize == 0 or dtype.subdtype is not None or any(d < 0 for d in shape):
        raise _Refused(f"{where}: member {member!r} has an invalid .npy header "
                       f"(dtype {dtype}, shape {shape})")
    nbytes = math.prod(shape) * dtype.itemsize
    held = info.file_size - len(start) - len(length_bytes) - header_length
    if nbytes != held:
        raise _Refused(f"{where}: member {member!r} says {dtype} {shape} = {nbytes:,} bytes "
                       f"but holds {held:,} bytes of data, expected them equal")
    raw = np.empty(nbytes, dtype=np.uint8)  # nbytes <= declared size <= max_bytes
    view = memoryview(raw)
    done = 0
    while done < nbytes:
        got = fp.readinto(view[done:done + _CHUNK])
        if not got:
            raise _Refused(f"{where} is corrupt or truncated (member {member!r} ends after "
                           f"{done:,} of {nbytes:,} data bytes)")
        done += got
    if fp.read(1):  # also makes zipfile reach the end and check the CRC
        raise _Refused(f"{where}: member {member!r} holds more bytes than it declares")
    array = np.frombuffer(raw, dtype=dtype)  # writable: raw is
    if fortran_order:
        return array.reshape(shape[::-1]).transpose()
    return array.reshape(shape)


def write_npz_atomic(path, arrays):
    """Write ``arrays`` {identifier: array} to the .npz ``path``, all or nothing.

    The archive (uncompressed, as np.savez writes it) goes to a temporary file in
    the same folder, is flushed and fsynced, then renamed over ``path``; on any
    exception (Ctrl-C included) the temporary file is removed and an existing
    ``path`` is left untouched. Raises ValueError for a path that does not end in
    .npz, is a folder or lies in a missing folder, for a name that is not an
    identifier and for object arrays (which would need pickle).
    """
    path = os.fsdecode(os.fspath(path))
    if not path.endswith(".npz"):
        raise ValueError(f"file {path!r} does not end in .npz, expected a .npz path")
    if os.path.isdir(path):
        raise ValueError(f"file {path!r} is a folder, expected a .npz file path")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"the folder {folder!r} for file {path!r} does not exist, "
                         "expected an existing folder")
    if not isinstance(arrays, Mapping):
        raise TypeError(f"arrays must be a dict name -> array, not {type(arrays).__name__}")
    prepared = {}
    for name, value in arrays.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"array name {name!r} for file {path!r} is not a Python identifier")
        value = np.asarray(value)
        if value.dtype.hasobject:
            raise ValueError(f"array {name!r} for file {path!r} holds Python objects "
                             f"(dtype {value.dtype}), expected a numeric array")
        prepared[name] = value
    try:
        mode = os.stat(path).st_mode & 0o777  # keep an existing file's permissions
    except OSError:
        mode = 0o644                          # mkstemp alone would give 0o600
    fd, tmp = tempfile.mkstemp(suffix=".npz.tmp", prefix=os.path.basename(path) + ".", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
                for name, value in prepared.items():
                    with zf.open(name + ".npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, value, allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)


def _fsync_folder(folder):
    """Make the rename itself durable (POSIX); best effort elsewhere."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
