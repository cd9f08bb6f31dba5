"""Tests for safe_npz: damaged, hostile and honest .npz files, and atomic writes.

Every refusal must be a plain ValueError (or FileNotFoundError) naming the file,
never a zipfile / zlib / numpy exception, and must come before any allocation
the file's headers ask for. Nothing here touches the network.
"""
import io
import os
import stat
import struct
import sys
import tracemalloc
import zipfile
import zlib

import numpy as np
import pytest

import safe_npz
from safe_npz import read_npz, write_npz_atomic

MiB = 2**20


# --------------------------------------------------------------------------- helpers
def refused(path, match, **kwargs):
    """read_npz(path) must raise exactly ValueError, naming the path and matching `match`."""
    with pytest.raises(ValueError, match=match) as info:
        read_npz(path, what="test file", **kwargs)
    assert type(info.value) is ValueError  # not BadZipFile, zlib.error, UnicodeDecodeError...
    assert repr(os.fspath(path)) in str(info.value)
    assert str(info.value).startswith("test file ")
    return str(info.value)


def same(a, b):
    """Bit-for-bit equality, dtype and shape included (no arithmetic happens on the data)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def npy_bytes(array=None, header=None, data=b"", version=(1, 0)):
    """A .npy file: of `array`, or a hand-made `header` dict followed by `data`."""
    f = io.BytesIO()
    if array is not None:
        np.lib.format.write_array(f, array, version=version, allow_pickle=False)
    else:
        write = {(1, 0): np.lib.format.write_array_header_1_0,
                 (2, 0): np.lib.format.write_array_header_2_0}[version]
        write(f, header)
        f.write(data)
    return f.getvalue()


def zip_of(path, members, method=zipfile.ZIP_STORED):
    """A zip archive written by zipfile: members {member name: bytes}."""
    with zipfile.ZipFile(path, "w", method) as zf:
        for name, payload in members.items():
            zf.writestr(name, payload)
    return path


def raw_zip(path, members):
    """A zip archive whose headers say exactly what we tell them, lies included.

    members: (name, method, payload as stored, crc32, declared uncompressed size).
    """
    local, central = bytearray(), bytearray()
    for name, method, payload, crc, size in members:
        n = name.encode()
        central += struct.pack("<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 0, 20, 0, 0, method, 0, 0x21,
                               crc, len(payload), size, len(n), 0, 0, 0, 0, 0, len(local)) + n
        local += struct.pack("<4s2B4HL2L2H", b"PK\x03\x04", 20, 0, 0, method, 0, 0x21,
                             crc, len(payload), size, len(n), 0) + n + payload
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members),
                      len(central), len(local), 0)
    path.write_bytes(bytes(local + central + end))
    return path


def deflated_zeros(prefix, n_mib):
    """Raw deflate stream of prefix + n_mib MiB of zeros, and the CRC-32 of that data.

    A full flush resets the compressor, so the block for one MiB of zeros repeats
    byte for byte: a 1 GiB stream costs milliseconds and about 1 MB.
    """
    chunk = bytes(MiB)
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = c.compress(prefix) + c.flush(zlib.Z_FULL_FLUSH)
    block = c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH)
    assert c.compress(chunk) + c.flush(zlib.Z_FULL_FLUSH) == block
    crc = zlib.crc32(prefix)
    for _ in range(n_mib):
        crc = zlib.crc32(chunk, crc)
    return head + block * n_mib + c.flush(), crc


def uint8_header(n):
    """The .npy header of a uint8 array of shape (n,)."""
    return npy_bytes(header={"descr": "|u1", "fortran_order": False, "shape": (n,)})


def peak_bytes(function):
    """Peak traced memory (Python objects and NumPy buffers) while function() runs."""
    tracemalloc.start()
    try:
        function()
    except ValueError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def member_regions(path):
    """(start, end) byte offsets of each member's stored data inside the archive."""
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
    regions = []
    for info in infos:
        n, e = struct.unpack("<2H", raw[info.header_offset + 26:info.header_offset + 30])
        start = info.header_offset + 30 + n + e
        regions.append((start, start + info.compress_size))
    return regions


SAMPLES = {
    "f32": np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
    "f64_0d": np.array(np.pi),
    "special": np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324]),
    "empty": np.zeros((0, 5)),
    "u8": np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
    "i64": np.array([-2**63, 2**63 - 1]),
    "flags": np.array([True, False, True]),
    "c128": np.array([1 + 2j, -3j]),
    "big_endian": np.arange(5, dtype=">f8"),
    "fortran": np.asfortranarray(np.arange(6, dtype=np.int32).reshape(2, 3)),
    "text": np.array(["ab", "c"]),
    "record": np.array([(1, 2.5), (3, -1.0)], dtype=[("a", "<i4"), ("b", "<f8")]),
    "dates": np.array(["2024-01-01", "1970-01-02"], dtype="datetime64[D]"),
    "__metadata__": np.array('{"layer_sizes": [784, 10, 10]}'),
}


# --------------------------------------------------------------------------- honest files
@pytest.mark.parametrize("writer", ["write_npz_atomic", "np.savez", "np.savez_compressed"])
def test_round_trip_of_many_dtypes_and_shapes(tmp_path, writer):
    path = tmp_path / "a.npz"
    {"write_npz_atomic": write_npz_atomic, "np.savez": lambda p, a: np.savez(p, **a),
     "np.savez_compressed": lambda p, a: np.savez_compressed(p, **a)}[writer](path, SAMPLES)
    got = read_npz(path, what="params file", required=["f32", "__metadata__"], allowed=SAMPLES)
    assert list(got) == list(SAMPLES)  # archive order
    for name, array in SAMPLES.items():
        assert same(got[name], array), name
        assert got[name].flags.writeable, name
    assert got["fortran"].flags.f_contiguous
    got["f32"][0, 0] = 1.0  # writable for real


def test_written_archive_reads_identically_with_np_load(tmp_path):
    path = tmp_path / "a.npz"
    arrays = {**SAMPLES, "file": np.ones(2), "allow_pickle": np.zeros(1)}  # np.savez's own keywords
    write_npz_atomic(path, arrays)
    with np.load(path, allow_pickle=False) as f:
        assert f.files == list(arrays)
        for name, array in arrays.items():
            assert same(f[name], array), name
    with zipfile.ZipFile(path) as zf:
        assert {info.compress_type for info in zf.infolist()} == {zipfile.ZIP_STORED}


def test_npy_format_version_2_is_read_and_3_refused(tmp_path):
    a = np.arange(4.0)
    got = read_npz(zip_of(tmp_path / "v2.npz", {"a.npy": npy_bytes(a, version=(2, 0))}))
    assert same(got["a"], a)
    v3 = bytearray(npy_bytes(a, version=(2, 0)))
    v3[6] = 3
    refused(zip_of(tmp_path / "v3.npz", {"a.npy": bytes(v3)}), r"version 3\.0, expected 1\.0 or 2\.0")


def test_max_bytes_boundary_is_inclusive(tmp_path):
    path = tmp_path / "a.npz"
    np.savez(path, a=np.zeros(100), b=np.ones(3, np.uint8))
    with zipfile.ZipFile(path) as zf:
        total = sum(info.file_size for info in zf.infolist())
    assert set(read_npz(path, max_bytes=total)) == {"a", "b"}
    refused(path, rf"declares {total:,} bytes of arrays, more than max_bytes={total - 1:,}",
            max_bytes=total - 1)


# --------------------------------------------------------------------------- wrong files
def test_missing_file(tmp_path):
    path = tmp_path / "nope.npz"
    with pytest.raises(FileNotFoundError, match="does not exist") as info:
        read_npz(path, what="MNIST file")
    assert str(info.value).startswith(f"MNIST file {str(path)!r}")


def test_folder(tmp_path):
    refused(tmp_path, "is a folder, expected a .npz file")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_named_pipe_is_refused_without_blocking(tmp_path):
    path = tmp_path / "pipe.npz"
    os.mkfifo(path)
    refused(path, "is not a regular file")


def test_npy_file_instead_of_npz(tmp_path):
    path = tmp_path / "a.npz"
    np.save(tmp_path / "a.npy", np.arange(3))
    os.replace(tmp_path / "a.npy", path)
    refused(path, r"is a \.npy file \(one array\), expected a \.npz archive")


@pytest.mark.parametrize("content", [b"hello, world\n", b"PK", b"\x93NUMP", b"\x00" * 100])
def test_not_a_zip(tmp_path, content):
    path = tmp_path / "a.npz"
    path.write_bytes(content)
    refused(path, r"is not a \.npz \(zip\) archive")


def test_empty_file(tmp_path):
    path = tmp_path / "a.npz"
    path.write_bytes(b"")
    refused(path, "is empty, expected a .npz archive")


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_truncated_at_many_lengths(tmp_path, save):
    whole = tmp_path / "whole.npz"
    save(whole, a=np.arange(300.0), b=np.arange(50, dtype=np.int16))
    data = whole.read_bytes()
    cut = tmp_path / "cut.npz"
    for length in [4, 10, 29, 30, 100, 500, len(data) // 2, len(data) - 23, len(data) - 22,
                   len(data) - 1]:
        cut.write_bytes(data[:length])
        refused(cut, "is corrupt or truncated")


def decodes_to(stored, method, original):
    """Would zipfile hand back `original` from these stored bytes? (an independent oracle)

    zipfile inflates until the stored bytes run out, cuts at the declared size and
    checks the CRC of that: if the bytes still decode to the original data (the only
    way: damage to the final end-of-stream bits), the file reads correctly.
    """
    if method == zipfile.ZIP_STORED:
        return stored == original
    try:
        decoded = zlib.decompressobj(-15).decompress(stored)
    except zlib.error:
        return False
    return decoded[:len(original)] == original


@pytest.mark.parametrize("save", [np.savez, np.savez_compressed])
def test_every_flipped_byte_in_the_member_data_is_caught(tmp_path, save):
    # The CRC-32 of each member covers its .npy header and its data, and the whole
    # member is read before it is trusted: a flipped byte anywhere in what is stored
    # (raw or deflated, header padding included) ends in ValueError -- unless the
    # damaged deflate stream still decodes to the original bytes, which only a flip
    # of the stream's last end-of-block bits can do: then the arrays are exactly right.
    whole = tmp_path / "whole.npz"
    save(whole, a=np.linspace(0, 1, 30), b=np.arange(7, dtype=np.uint8))
    original = read_npz(whole)
    data = whole.read_bytes()
    with zipfile.ZipFile(whole) as zf:
        members = [(zf.read(info), info.compress_type) for info in zf.infolist()]
    bad = tmp_path / "bad.npz"
    harmless = []
    for (start, end), (content, method) in zip(member_regions(whole), members):
        for position in range(start, end):
            flipped = bytearray(data)
            flipped[position] ^= 0xFF
            bad.write_bytes(bytes(flipped))
            if decodes_to(bytes(flipped[start:end]), method, content):
                harmless.append(position)
                got = read_npz(bad)
                assert all(same(got[name], original[name]) for name in original)
            else:
                refused(bad, "test file")
    if save is np.savez:
        assert harmless == []
    # The oracle is not vacuous: at most the last byte or two of each stream is harmless.
    assert len(harmless) <= 2 * len(members)


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_other_compression_methods_are_refused(tmp_path, method):
    path = zip_of(tmp_path / "a.npz", {"x.npy": npy_bytes(np.arange(3))}, method)
    refused(path, rf"member 'x.npy' uses zip compression method {method}, expected 0 \(stored\)")


def test_unknown_compression_method_number_is_refused(tmp_path):
    path = zip_of(tmp_path / "a.npz", {"x.npy": npy_bytes(np.arange(3))})
    data = bytearray(path.read_bytes())
    for signature, offset in [(b"PK\x03\x04", 8), (b"PK\x01\x02", 10)]:
        at = data.index(signature) + offset
        assert data[at:at + 2] == b"\x00\x00"  # stored
        data[at:at + 2] = struct.pack("<H", 99)
    path.write_bytes(bytes(data))
    refused(path, "member 'x.npy' uses zip compression method 99")


def test_encrypted_member_is_refused(tmp_path):
    path = zip_of(tmp_path / "a.npz", {"x.npy": npy_bytes(np.arange(3))})
    data = bytearray(path.read_bytes())
    for signature, offset in [(b"PK\x03\x04", 6), (b"PK\x01\x02", 8)]:
        data[data.index(signature) + offset] |= 0x1
    path.write_bytes(bytes(data))
    refused(path, "member 'x.npy' is encrypted")


@pytest.mark.parametrize("member", ["x.txt", "x", "../evil.npy", "a b.npy", "sub/x.npy", "sub/",
                                    "1st.npy", ".npy"])
def test_member_names_must_be_identifiers_with_npy(tmp_path, member):
    path = zip_of(tmp_path / "a.npz", {"good.npy": npy_bytes(np.arange(3)),
                                       member: npy_bytes(np.arange(2))})
    refused(path, f"holds the member {member!r}, expected only <name>.npy")


def test_duplicate_member_is_refused(tmp_path):
    path = tmp_path / "a.npz"
    with pytest.warns(UserWarning, match="Duplicate name"):
        zip_of(path, {"x.npy": npy_bytes(np.arange(3))})
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr("x.npy", npy_bytes(np.arange(4)))
    refused(path, "holds the member 'x.npy' twice")


def test_allowed_and_required(tmp_path):
    path = tmp_path / "a.npz"
    np.savez(path, W1=np.ones((2, 2)), b1=np.zeros(2), extra=np.zeros(1))
    assert set(read_npz(path)) == {"W1", "b1", "extra"}  # allowed=None: any name
    message = refused(path, "holds the unexpected array 'extra'", allowed=["W1", "b1"])
    assert "expected only ['W1', 'b1']" in message
    message = refused(path, r"lacks the arrays \['W2', 'b2'\]", required=["W1", "W2", "b2"])
    assert "it holds ['W1', 'b1', 'extra']" in message
    assert set(read_npz(path, required=("W1", "b1"), allowed={"W1", "b1", "extra"})) == {
        "W1", "b1", "extra"}
    with pytest.raises(TypeError, match="iterable of array names"):
        read_npz(path, required="W1")


def test_member_that_is_not_npy(tmp_path):
    path = zip_of(tmp_path / "a.npz", {"x.npy": b"hello, this is no array"})
    refused(path, r"member 'x.npy' is not a \.npy array")
    refused(zip_of(tmp_path / "b.npz", {"x.npy": b"\x93NU"}), "is corrupt or truncated")


def test_header_that_is_not_a_dict_or_has_wrong_keys(tmp_path):
    base = bytearray(npy_bytes(np.arange(3)))
    end = base.index(b"\n")
    for text in [b"[1, 2, 3]", b"{'descr': '<i8'}", b"{'descr': 'nonsense', 'fortran_order': False,"
                 b" 'shape': (3,)}", b"__import__('os').system('touch x')"]:
        header = text.ljust(end - 10) + b"\n"
        path = zip_of(tmp_path / "a.npz", {"x.npy": bytes(base[:10]) + header + bytes(base[end + 1:])})
        refused(path, "is corrupt or truncated")
    assert not (tmp_path / "x").exists()


def test_huge_header_length_is_refused_before_reading_it(tmp_path):
    payload = b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**31) + b"{" * 100
    refused(zip_of(tmp_path / "a.npz", {"x.npy": payload}),
            "has a .npy header of 2,147,483,648 bytes, expected at most 10,000")


# --------------------------------------------------------------------------- pickle
def _touch(path):  # what unpickling the gadget would run
    open(path, "w").close()
    return 0


class Gadget:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return _touch, (self.marker,)


@pytest.mark.parametrize("dtype", [object, [("a", "<i4"), ("b", object)]])
def test_object_arrays_are_refused_and_never_unpickled(tmp_path, dtype):
    marker = tmp_path / "pickle-ran"
    array = np.zeros(1, dtype=dtype)
    array[0] = Gadget(str(marker)) if dtype is object else (1, Gadget(str(marker)))
    path = tmp_path / "a.npz"
    np.savez(path, evil=array, fine=np.arange(3))
    refused(path, r"member 'evil.npy' holds Python objects .* need pickle")
    assert not marker.exists()
    with np.load(path, allow_pickle=True) as f:  # the gadget is live: np.load would run it
        f["evil"]
    assert marker.exists()


# --------------------------------------------------------------------------- headers that lie
def test_raw_zip_builder_makes_valid_archives(tmp_path):
    # Control for the tests below: with honest values the hand-made archive reads fine.
    payload = npy_bytes(np.arange(5.0))
    stream, crc = deflated_zeros(uint8_header(2 * MiB), 2)
    path = raw_zip(tmp_path / "a.npz", [
        ("a.npy", zipfile.ZIP_STORED, payload, zlib.crc32(payload), len(payload)),
        ("z.npy", zipfile.ZIP_DEFLATED, stream, crc, len(uint8_header(2 * MiB)) + 2 * MiB)])
    got = read_npz(path)
    assert same(got["a"], np.arange(5.0))
    assert got["z"].shape == (2 * MiB,) and not got["z"].any()


@pytest.mark.parametrize("shape, held", [((10**9,), 80), ((2**40, 2**40), 80), ((9,), 80),
                                         ((11,), 80), ((), 0), ((-1,), 8), ((5, -2), 80)])
def test_header_shape_must_match_the_bytes_held(tmp_path, shape, held):
    payload = npy_bytes(header={"descr": "<f8", "fortran_order": False, "shape": shape},
                        data=bytes(held))
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        path = zip_of(tmp_path / "a.npz", {"x.npy": payload}, method)
        if min(shape, default=0) < 0:
            match = "has an invalid .npy header"
        else:
            match = rf"member 'x.npy' says float64 .* but holds {held:,} bytes of data"
        assert peak_bytes(lambda: refused(path, match)) < 10 * MiB


def test_zip_bomb_is_refused_by_declared_size_before_inflating(tmp_path):
    header = uint8_header(2**30)
    stream, crc = deflated_zeros(header, 1024)  # 1 GiB of zeros in about 1 MB
    assert len(stream) < 2 * MiB
    path = raw_zip(tmp_path / "bomb.npz",
                   [("x.npy", zipfile.ZIP_DEFLATED, stream, crc, len(header) + 2**30)])
    peak = peak_bytes(lambda: refused(path, r"declares 1,073,741,952 bytes of arrays, more than "
                                            r"max_bytes=536,870,912 \(a zip bomb"))
    assert peak < 10 * MiB


def test_zip_bomb_written_by_zipfile_is_refused(tmp_path):
    path = tmp_path / "bomb.npz"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("x.npy", "w", force_zip64=True) as f:
            f.write(uint8_header(64 * MiB))
            for _ in range(64):
                f.write(bytes(MiB))
    assert path.stat().st_size < MiB
    refused(path, "more than max_bytes=33,554,432", max_bytes=32 * MiB)
    assert read_npz(path, max_bytes=65 * MiB)["x"].shape == (64 * MiB,)  # control: it is valid


def test_member_that_inflates_far_past_its_declared_size(tmp_path):
    # The central directory declares 1 MiB (and the .npy header agrees), but the
    # deflate stream holds 1 GiB: zipfile stops at the declared size and the CRC of
    # the real data does not match what was read -> ValueError, memory stays small.
    header = uint8_header(MiB)
    stream, crc = deflated_zeros(header, 1024)
    path = raw_zip(tmp_path / "liar.npz",
                   [("x.npy", zipfile.ZIP_DEFLATED, stream, crc, len(header) + MiB)])
    peak = peak_bytes(lambda: refused(path, r"is corrupt or truncated \(BadZipFile: Bad CRC-32"))
    assert peak < 50 * MiB


def test_member_that_holds_less_than_its_declared_size(tmp_path):
    # Declared 64 MiB (header agrees), real stream 1 MiB with a matching CRC.
    header = uint8_header(64 * MiB)
    stream, crc = deflated_zeros(header, 1)
    path = raw_zip(tmp_path / "short.npz",
                   [("x.npy", zipfile.ZIP_DEFLATED, stream, crc, len(header) + 64 * MiB)])
    refused(path, "member 'x.npy' ends after 1,048,576 of 67,108,864 data bytes")


# --------------------------------------------------------------------------- atomic writes
def old_file(tmp_path):
    path = tmp_path / "params.npz"
    write_npz_atomic(path, {"W1": np.ones(3)})
    return path, path.read_bytes()


def leftovers(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir() if p.name != "params.npz")


def test_write_replaces_the_old_file(tmp_path):
    path, before = old_file(tmp_path)
    write_npz_atomic(str(path), {"W1": np.zeros(3), "b1": np.ones(1)})
    assert path.read_bytes() != before
    got = read_npz(path)
    assert same(got["W1"], np.zeros(3)) and same(got["b1"], np.ones(1))
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_write_keeps_the_permissions_of_the_old_file(tmp_path):
    path, _ = old_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # new file: not mkstemp's 0o600
    path.chmod(0o640)
    write_npz_atomic(path, {"W1": np.zeros(3)})
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


@pytest.mark.parametrize("target, function, error", [
    (np.lib.format, "write_array", RuntimeError),
    (safe_npz.os, "fsync", KeyboardInterrupt),
    (safe_npz.os, "replace", OSError),
])
def test_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch, target,
                                                           function, error):
    path, before = old_file(tmp_path)
    calls = []

    def fail(*args, **kwargs):
        calls.append(args)
        if function == "write_array":
            args[0].write(b"\x93NUMPY half an array")
        raise error("interrupted")

    monkeypatch.setattr(target, function, fail)
    with pytest.raises(error, match="interrupted"):
        write_npz_atomic(path, {"W1": np.zeros(3)})
    monkeypatch.undo()
    assert calls  # the failure really happened mid-way
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("name", ["params.txt", "params", "params.npz.tmp", "params.NPZ.bak"])
def test_write_refuses_names_without_npz(tmp_path, name):
    with pytest.raises(ValueError, match=r"does not end in \.npz, expected a \.npz path"):
        write_npz_atomic(tmp_path / name, {"W1": np.ones(3)})
    assert list(tmp_path.iterdir()) == []


def test_write_refuses_a_folder_and_a_missing_folder(tmp_path):
    (tmp_path / "d.npz").mkdir()
    with pytest.raises(ValueError, match="is a folder, expected a .npz file path"):
        write_npz_atomic(tmp_path / "d.npz", {"W1": np.ones(3)})
    missing = tmp_path / "no" / "such"
    with pytest.raises(ValueError, match="does not exist, expected an existing folder") as info:
        write_npz_atomic(missing / "p.npz", {"W1": np.ones(3)})
    assert repr(str(missing)) in str(info.value)
    assert [p.name for p in tmp_path.iterdir()] == ["d.npz"]


@pytest.mark.parametrize("arrays, match", [
    ({"W 1": np.ones(2)}, "is not a Python identifier"),
    ({1: np.ones(2)}, "is not a Python identifier"),
    ({"obj": np.array([{}, None], dtype=object)}, "holds Python objects"),
])
def test_write_refuses_what_read_npz_would_refuse(tmp_path, arrays, match):
    with pytest.raises(ValueError, match=match):
        write_npz_atomic(tmp_path / "p.npz", arrays)
    assert list(tmp_path.iterdir()) == []
