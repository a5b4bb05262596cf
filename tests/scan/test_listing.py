"""safepoint.scan.listing: the C extension and the pure-Python version give the same bytes."""

from __future__ import annotations

import contextlib
import importlib
import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from safepoint.scan import listing
from safepoint.scan.listing import _list_dir_pure, list_dir, parse_listing

NON_UTF8 = b"caf\xe9"


def _c_list_dir() -> Callable[[str], bytes] | None:
    """The C function, or None (a skip) if it was not built; a failure if it was required."""
    try:
        module = importlib.import_module("safepoint.scan._listing")
    except ImportError:
        if os.environ.get("SAFEPOINT_REQUIRE_C") == "1":
            pytest.fail("SAFEPOINT_REQUIRE_C=1 but safepoint.scan._listing is not built")
        return None
    fn: Callable[[str], bytes] = module.list_dir
    return fn


@pytest.fixture
def c_list_dir() -> Callable[[str], bytes]:
    fn = _c_list_dir()
    if fn is None:
        pytest.skip("C extension not built (set SAFEPOINT_REQUIRE_C=1 to make this a failure)")
    return fn


@pytest.fixture(params=["c", "pure"])
def fn(request: pytest.FixtureRequest) -> Callable[[str], bytes]:
    """list_dir in C (see c_list_dir) and in pure Python: a test taking it runs on both."""
    if request.param == "pure":
        return _list_dir_pure
    impl: Callable[[str], bytes] = request.getfixturevalue("c_list_dir")
    return impl


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A directory with one entry of every kind."""
    d = tmp_path / "d"
    d.mkdir()
    for name, size in [("a", 1), ("b.txt", 100), ("big.bin", 1 << 20), ("Z", 4097)]:
        (d / name).write_bytes(b"x" * size)
    (d / "empty").touch()
    (d / "sub").mkdir()
    (d / "sub" / "inner").write_text("not listed")
    (d / "link").symlink_to("a")
    (d / "dangling").symlink_to("no-such-target")
    (d / "dirlink").symlink_to("sub")
    os.mkfifo(d / "fifo")
    fd = os.open(os.fsencode(d) + b"/" + NON_UTF8, os.O_WRONLY | os.O_CREAT, 0o640)
    os.write(fd, b"bytes name")
    os.close(fd)
    for name in ["ab", "a\xff", "aa", "a.b", "a-"]:  # prefixes and byte order
        (d / name).touch()
    os.utime(d / "a", ns=(1, 1_234_567_891))  # sub-second mtime
    os.utime(d / "Z", ns=(1, -1_500_000_000))  # before 1970
    return d


def test_c_and_pure_identical(tree: Path, c_list_dir: Callable[[str], bytes]) -> None:
    data = c_list_dir(str(tree))
    assert data == _list_dir_pure(str(tree))
    assert len(parse_listing(data)) == 16


def test_c_and_pure_identical_empty(tmp_path: Path, c_list_dir: Callable[[str], bytes]) -> None:
    assert c_list_dir(str(tmp_path)) == b""
    assert _list_dir_pure(str(tmp_path)) == b""


def test_c_and_pure_identical_trailing_slash_and_relative(
    tree: Path, c_list_dir: Callable[[str], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert c_list_dir(str(tree) + "/") == _list_dir_pure(str(tree) + "/")
    monkeypatch.chdir(tree)
    assert c_list_dir(".") == _list_dir_pure(".") == c_list_dir(str(tree))


def test_parse_round_trip(tree: Path, fn: Callable[[str], bytes]) -> None:
    rows = parse_listing(fn(str(tree)))
    names = [r[0] for r in rows]
    on_disk = [os.fsdecode(n) for n in os.listdir(os.fsencode(tree))]
    assert sorted(names) == sorted(on_disk)
    assert os.fsdecode(NON_UTF8) in names
    for name, mode, uid, gid, ino, size, mtime_ns, ctime_ns in rows:
        st = os.lstat(tree / name)
        assert (mode, uid, gid, ino, size, mtime_ns, ctime_ns) == (
            st.st_mode,
            st.st_uid,
            st.st_gid,
            st.st_ino,
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
        )
    by_name = {r[0]: r for r in rows}
    assert stat.S_ISREG(by_name["a"][1]) and by_name["a"][5] == 1
    assert by_name["a"][6] == 1_234_567_891
    assert by_name["Z"][6] == -1_500_000_000
    assert by_name["big.bin"][5] == 1 << 20
    assert by_name["empty"][5] == 0
    assert stat.S_ISDIR(by_name["sub"][1])
    assert stat.S_ISLNK(by_name["link"][1]) and by_name["link"][5] == len("a")
    assert stat.S_ISLNK(by_name["dangling"][1])
    assert stat.S_ISLNK(by_name["dirlink"][1])
    assert stat.S_ISFIFO(by_name["fifo"][1])
    assert stat.S_IMODE(by_name[os.fsdecode(NON_UTF8)][1]) == 0o640 & ~_umask()


def _umask() -> int:
    old = os.umask(0)
    os.umask(old)
    return old


def test_sorted_by_bytes(tree: Path, fn: Callable[[str], bytes]) -> None:
    encoded = [os.fsencode(r[0]) for r in parse_listing(fn(str(tree)))]
    assert encoded == sorted(encoded)
    # Byte order, not str order: "a\xff" is b"a\xc3\xbf"; a surrogate-escaped byte sorts by it.
    assert encoded.index(b"a") < encoded.index(b"a-") < encoded.index(b"a.b")
    assert encoded.index(b"aa") < encoded.index(b"ab") < encoded.index(b"a\xc3\xbf")
    assert encoded.index(b"Z") < encoded.index(b"a") < encoded.index(b"caf\xe9")


def test_packed_header(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"12345")
    data = list_dir(str(tmp_path))
    assert len(data) == 46 + 1
    assert data[:2] == b"\x01\x00" and data[-1:] == b"f"
    assert int.from_bytes(data[22:30], "little", signed=True) == 5


def test_errors(tmp_path: Path, fn: Callable[[str], bytes]) -> None:
    missing = str(tmp_path / "missing")
    with pytest.raises(FileNotFoundError) as e:
        fn(missing)
    assert e.value.filename == missing
    f = tmp_path / "file"
    f.touch()
    with pytest.raises(NotADirectoryError) as e2:
        fn(str(f))
    assert e2.value.filename == str(f)
    with pytest.raises(FileNotFoundError):
        fn("")
    with pytest.raises(ValueError):
        fn("a\0b")


def _skip_if_privileged(d: Path) -> None:
    """Skip when permissions are not enforced on us (root, or CAP_DAC_OVERRIDE and the like)."""
    if os.geteuid() == 0 and os.access(d, os.R_OK | os.X_OK):
        d.chmod(0o755)
        pytest.skip("running as root: permissions are not enforced")


def test_unreadable_directory(tmp_path: Path, fn: Callable[[str], bytes]) -> None:
    d = tmp_path / "locked"
    d.mkdir()
    d.chmod(0)
    _skip_if_privileged(d)
    try:
        with pytest.raises(PermissionError) as e:
            fn(str(d))
        assert e.value.filename == str(d)
    finally:
        d.chmod(0o755)


def test_entry_lstat_fails(tmp_path: Path, fn: Callable[[str], bytes]) -> None:
    d = tmp_path / "noexec"
    d.mkdir()
    (d / "f").touch()
    d.chmod(0o444)  # readable (readdir works) but not searchable (lstat fails: EACCES)
    _skip_if_privileged(d)
    try:
        with pytest.raises(PermissionError) as e:
            fn(str(d))
        assert e.value.filename == str(d / "f")
    finally:
        d.chmod(0o755)


def test_timestamp_out_of_range(tmp_path: Path, fn: Callable[[str], bytes]) -> None:
    f = tmp_path / "far"
    f.touch()
    try:
        os.utime(f, ns=(0, 10**19))  # year 2286: past int64 nanoseconds
    except OSError:
        pytest.skip("filesystem refuses the timestamp")
    if os.lstat(f).st_mtime_ns < 2**63:
        pytest.skip("filesystem clamps the timestamp")
    with pytest.raises(OverflowError, match="far"):
        fn(str(tmp_path))


def test_path_like_and_bytes(tree: Path, c_list_dir: Callable[[str], bytes]) -> None:
    expected = _list_dir_pure(str(tree))
    assert c_list_dir(tree) == _list_dir_pure(tree) == expected  # type: ignore[arg-type]
    assert c_list_dir(os.fsencode(tree)) == expected  # type: ignore[arg-type]
    assert _list_dir_pure(os.fsencode(tree)) == expected  # type: ignore[arg-type]


def test_surrogate_escaped_directory_name(tmp_path: Path) -> None:
    d = os.fsencode(tmp_path) + b"/dir\xff"
    os.mkdir(d)
    os.close(os.open(d + b"/x", os.O_WRONLY | os.O_CREAT, 0o644))
    path = os.fsdecode(d)
    assert [r[0] for r in parse_listing(list_dir(path))] == ["x"]
    assert list_dir(path) == _list_dir_pure(path)


def test_parse_truncated() -> None:
    with pytest.raises(ValueError):
        parse_listing(b"\x01\x00" + b"\x00" * 10)
    with pytest.raises(ValueError):
        parse_listing(b"\x05\x00" + b"\x00" * 44 + b"ab")
    assert parse_listing(b"") == []


def test_have_c_and_env_override() -> None:
    c_built = _c_list_dir() is not None
    if os.environ.get("SAFEPOINT_PURE_LISTING") != "1":
        assert listing.HAVE_C is c_built
    code = "from safepoint.scan import listing; print(listing.HAVE_C)"
    env = {**os.environ, "SAFEPOINT_PURE_LISTING": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def _c_list_dirs() -> Callable[[list[str], int], list[bytes | None]]:
    if _c_list_dir() is None:
        pytest.skip("C extension not built (set SAFEPOINT_REQUIRE_C=1 to make this a failure)")
    fn: Callable[[list[str], int], list[bytes | None]] = importlib.import_module(
        "safepoint.scan._listing"
    ).list_dirs
    return fn


@pytest.mark.parametrize("impl", ["c", "pure"])
@pytest.mark.parametrize("threads", [1, 3, 16])
def test_list_dirs_in_order_with_none_for_failures(
    tree: Path, tmp_path: Path, impl: str, threads: int
) -> None:
    """Many directories at once: each result where its path was, ``None`` for one that cannot
    be listed (missing, not a directory, a timestamp out of range), whatever the threads."""
    fn = _c_list_dirs() if impl == "c" else listing._list_dirs_pure
    dirs = []
    for i in range(40):
        d = tmp_path / "many" / f"d{i:02}"
        d.mkdir(parents=True)
        for j in range(i % 5):
            (d / f"f{j}").write_bytes(b"x" * j)
        dirs.append(str(d))
    bad = [str(tmp_path / "missing"), str(tree / "a")]
    late = tmp_path / "late"
    late.mkdir()
    (late / "f").touch()
    with contextlib.suppress(OSError):
        os.utime(late / "f", ns=(0, 10**19))  # year 2286: past int64 nanoseconds
    if os.lstat(late / "f").st_mtime_ns >= 2**63:  # unless the filesystem refuses or clamps it
        bad.append(str(late))
    paths = [str(tree), *dirs[:20], *bad, *dirs[20:], str(tree / "sub")]
    got = fn(paths, threads)
    assert len(got) == len(paths)
    for path, result in zip(paths, got, strict=True):
        if path in bad:
            assert result is None, path
        else:
            assert result == _list_dir_pure(path), path


def test_list_dirs_empty_and_wrong_arguments() -> None:
    fn = _c_list_dirs()
    assert fn([], 4) == []
    with pytest.raises(TypeError):
        fn(("not", "a list"), 2)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        fn([1], 2)  # type: ignore[list-item]
