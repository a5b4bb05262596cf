"""The tools under test, each behind the same small interface.

A tool is set up on a fresh repository (untimed), then asked for timed steps: ``checkpoint``,
``restore``, ``verify`` and, for the tools that do it, ``rollback``. Every timed step returns a
:class:`Step`; a tool that cannot do a step returns ``None``. Where a peer needs the file set in its
own syntax it is translated from ``trees.COMMON_EXCLUDES`` here, so there is one list.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from timing import Measurement, Timer, run_quiet
from trees import COMMON_EXCLUDES, SAFEPOINT_REINCLUDES, TreeStats

RESTIC_PASSWORD = "safepoint-bench"


@dataclass(frozen=True)
class Step:
    """A timed step and, for a checkpoint, the reference that names it afterwards."""

    measurement: Measurement
    ref: str | None = None
    missing_command: bool = False  # the tool has no such command (yet)

    @property
    def ok(self) -> bool:
        return self.measurement.ok and not self.missing_command


@dataclass(frozen=True)
class Seen:
    """What a tool reports it stored in one checkpoint, next to the tree as we count it."""

    description: str
    matches: bool | None  # None: the tool's numbers cannot be compared


def _split(pattern: str) -> tuple[str, bool]:
    """A gitignore pattern as (name, anchored at the root)."""
    return pattern.strip("/"), pattern.startswith("/")


def du_bytes(path: Path) -> int:
    """Apparent size of everything under ``path`` in bytes (what ``du -sb`` prints)."""
    out = subprocess.run(["du", "-sb", str(path)], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[0])


def first_line(argv: list[str]) -> str | None:
    if shutil.which(argv[0]) is None:
        return None
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if text else "unknown version"


class Tool:
    """Base: one tool, one repository at a time. Subclasses fill in the steps they support."""

    key = ""
    label = ""
    needs: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.site = Path()
        self.repo = Path()
        # A remote repository (bench/remote.py): the tool stores there instead of in ``repo``,
        # with ``extra_env`` (the S3 server's credentials) in its environment.
        self.url: str | None = None
        self.extra_env: dict[str, str] = {}

    def version(self) -> str | None:
        return first_line([self.needs[0], "--version"])

    def missing(self) -> list[str]:
        return [exe for exe in self.needs if shutil.which(exe) is None]

    def setup(self, site: Path, repo: Path) -> None:
        self.site, self.repo = site, repo

    def env(self) -> dict[str, str]:
        return {**os.environ, **self.extra_env}

    @property
    def location(self) -> str:
        return self.url or str(self.repo)

    def repo_size(self) -> int:
        return du_bytes(self.repo)

    # The steps; a tool that does not take part in one leaves it unimplemented.
    def checkpoint(self, timer: Timer, label: str) -> Step:
        raise NotImplementedError

    def restore(self, timer: Timer, ref: str, dest: Path) -> Step:
        raise NotImplementedError

    def verify(self, timer: Timer, ref: str) -> Step:
        raise NotImplementedError

    def rollback(self, timer: Timer, ref: str, mirror: Path, archive: Path | None) -> Step:
        raise NotImplementedError

    def seen(self, ref: str, expected: TreeStats) -> Seen:
        raise NotImplementedError


class Safepoint(Tool):
    key = "safepoint"
    label = "safepoint"

    def __init__(self, exe: str) -> None:
        super().__init__()
        self.exe = exe
        self.needs = (exe,)

    def setup(self, site: Path, repo: Path) -> None:
        super().setup(site, repo)
        # Written before init, which keeps an existing configuration and creates the repository
        # where it says: outside the site, so it is not part of the tree being measured.
        patterns = ", ".join(json.dumps(p) for p in SAFEPOINT_REINCLUDES)
        where = f"url = {json.dumps(self.url)}" if self.url else f"path = {json.dumps(str(repo))}"
        (site / "safepoint.toml").write_text(
            f"[repository]\n{where}\n\n[files]\nexclude = [{patterns}]\n")
        self._quiet("init")

    def _argv(self, *args: str) -> list[str]:
        return [self.exe, *args, "--root", str(self.site)]

    def _quiet(self, *args: str) -> Measurement:
        return run_quiet(self._argv(*args), cwd=self.site, env=self.env())

    def _step(self, m: Measurement, ref: str | None = None) -> Step:
        return Step(m, ref, missing_command="no such command" in m.stderr.lower())

    def checkpoint(self, timer: Timer, label: str) -> Step:
        m = timer.run(self._argv("create", "--label", label, "--json"), cwd=self.site,
                      env=self.env())
        ref = label
        if m.ok:
            with contextlib.suppress(ValueError, KeyError, TypeError):  # the label names it too
                ref = json.loads(m.stdout)["id"]
        return self._step(m, ref)

    def restore(self, timer: Timer, ref: str, dest: Path) -> Step:
        argv = self._argv("restore", ref, "--to", str(dest))
        return self._step(timer.run(argv, cwd=self.site, env=self.env()))

    def rollback(self, timer: Timer, ref: str, mirror: Path, archive: Path | None) -> Step:
        argv = self._argv("rollback", ref, "--yes", "--no-health")
        return self._step(timer.run(argv, cwd=self.site, env=self.env()))

    def verify(self, timer: Timer, ref: str) -> Step:
        return self._step(timer.run(self._argv("verify"), cwd=self.site, env=self.env()))

    def seen(self, ref: str, expected: TreeStats) -> Seen:
        m = run_quiet(self._argv("list", "--json"), env=self.env(), check=False)
        try:
            doc = json.loads(m.stdout)
            items = doc if isinstance(doc, list) else doc.get("checkpoints", [])
            cp = next(c for c in items if ref in (c.get("id"), c.get("label")))
            files, size = cp.get("files"), cp.get("bytes", cp.get("size"))
        except (ValueError, StopIteration, AttributeError):
            return Seen(f"cannot read `safepoint list --json`: {m.last_error_line()}", None)
        ok = files in (expected.files, expected.files + expected.symlinks, expected.entries)
        return Seen(f"files={files:,} bytes={size:,}", ok and size == expected.bytes)


class Restic(Tool):
    key = "restic"
    label = "restic"
    needs = ("restic",)

    def __init__(self) -> None:
        super().__init__()
        self.compression: str | None = None

    def version(self) -> str | None:
        return first_line(["restic", "version"])

    def env(self) -> dict[str, str]:
        return {**super().env(), "RESTIC_PASSWORD": RESTIC_PASSWORD,
                "RESTIC_CACHE_DIR": str(self.repo.parent / "restic-cache")}

    def setup(self, site: Path, repo: Path) -> None:
        super().setup(site, repo)
        help_text = run_quiet(["restic", "init", "--help"], env=self.env()).stdout
        args = ["restic", "-r", self.location, "init"]
        if "--repository-version" in help_text:
            args += ["--repository-version", "2"]
            self.compression = "auto"
        run_quiet(args, env=self.env())

    def _excludes(self) -> list[str]:
        out = []
        for pattern in COMMON_EXCLUDES:
            name, anchored = _split(pattern)
            out += ["--exclude", str(self.site / name) if anchored else name]
        return out

    def checkpoint(self, timer: Timer, label: str) -> Step:
        # Same host and path every time, so restic finds the parent snapshot by itself.
        args = ["restic", "-r", self.location, "backup", "--json", "--host", "bench",
                "--tag", label, *self._excludes()]
        if self.compression:
            args += ["--compression", self.compression]
        m = timer.run([*args, "."], cwd=self.site, env=self.env())
        ref = None
        for line in m.stdout.splitlines():
            if '"summary"' in line:
                ref = json.loads(line).get("snapshot_id")
        return Step(m, ref)

    def restore(self, timer: Timer, ref: str, dest: Path) -> Step:
        args = ["restic", "-r", self.location, "restore", ref, "--target", str(dest)]
        return Step(timer.run(args, env=self.env()))

    def verify(self, timer: Timer, ref: str) -> Step:
        return Step(timer.run(["restic", "-r", self.location, "check", "--read-data"],
                              env=self.env()))

    def seen(self, ref: str, expected: TreeStats) -> Seen:
        m = run_quiet(["restic", "-r", self.location, "stats", "--json", "--mode",
                       "restore-size", ref], env=self.env())
        doc = json.loads(m.stdout)
        nodes, size = doc["total_file_count"], doc["total_size"]
        return Seen(f"files+dirs+links={nodes:,} bytes={size:,}",
                    nodes == expected.entries and size == expected.bytes)


class Borg(Tool):
    key = "borg"
    label = "borg"
    needs = ("borg",)
    compression = "lz4"  # borg 1.2's default, named explicitly

    def env(self) -> dict[str, str]:
        return {**os.environ, "BORG_BASE_DIR": str(self.repo.parent / "borg-base"),
                "BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK": "yes",
                "BORG_RELOCATED_REPO_ACCESS_IS_OK": "yes"}

    def setup(self, site: Path, repo: Path) -> None:
        super().setup(site, repo)
        run_quiet(["borg", "init", "--encryption", "none", str(repo)], env=self.env())

    def _excludes(self) -> list[str]:
        # Archive paths are relative (we back up "."), so anchored means "at the start".
        out = []
        for pattern in COMMON_EXCLUDES:
            name, anchored = _split(pattern)
            out += ["--exclude", f"sh:{name}" if anchored else f"sh:**/{name}"]
        return out

    def checkpoint(self, timer: Timer, label: str) -> Step:
        args = ["borg", "create", "--compression", self.compression, *self._excludes(),
                f"{self.repo}::{label}", "."]
        return Step(timer.run(args, cwd=self.site, env=self.env()), label)

    def restore(self, timer: Timer, ref: str, dest: Path) -> Step:
        return Step(timer.run(["borg", "extract", f"{self.repo}::{ref}"], cwd=dest,
                              env=self.env()))

    def verify(self, timer: Timer, ref: str) -> Step:
        return Step(timer.run(["borg", "check", "--verify-data", str(self.repo)], env=self.env()))

    def seen(self, ref: str, expected: TreeStats) -> Seen:
        m = run_quiet(["borg", "info", "--json", f"{self.repo}::{ref}"], env=self.env())
        stats = json.loads(m.stdout)["archives"][0]["stats"]
        files, size = stats["nfiles"], stats["original_size"]
        return Seen(f"files={files:,} bytes={size:,}",
                    files in (expected.files, expected.files + expected.symlinks)
                    and size == expected.bytes)


class Tar(Tool):
    """The hand-made routine: one ``tar czf`` per checkpoint, a ``.sha256`` beside it."""

    key = "tar"
    label = "tar+gzip"
    needs = ("tar", "gzip", "sha256sum")

    def setup(self, site: Path, repo: Path) -> None:
        super().setup(site, repo)
        repo.mkdir(parents=True)

    def archive(self, ref: str) -> Path:
        return self.repo / f"{ref}.tar.gz"

    def _excludes(self) -> list[str]:
        # GNU tar matches exclude patterns after any "/" by default; "./name" pins one to the root.
        out = []
        for pattern in COMMON_EXCLUDES:
            name, anchored = _split(pattern)
            out.append(f"--exclude=./{name}" if anchored else f"--exclude={name}")
        return out

    def checkpoint(self, timer: Timer, label: str) -> Step:
        archive = self.archive(label)
        m = timer.run(["tar", "czf", str(archive), *self._excludes(), "-C", str(self.site), "."])
        if m.ok:
            digest = hashlib.sha256()
            with open(archive, "rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
            archive.with_name(archive.name + ".sha256").write_text(
                f"{digest.hexdigest()}  {archive.name}\n")
        return Step(m, label)

    def restore(self, timer: Timer, ref: str, dest: Path) -> Step:
        return Step(timer.run(["tar", "xzf", str(self.archive(ref)), "-C", str(dest)]))

    def rollback(self, timer: Timer, ref: str, mirror: Path, archive: Path | None) -> Step:
        # The seed routine: extract the whole archive over the site.
        assert archive is not None
        return Step(timer.run(["tar", "xzf", str(archive), "-C", str(self.site)]))

    def verify(self, timer: Timer, ref: str) -> Step:
        name = self.archive(ref).name + ".sha256"
        return Step(timer.run(["sha256sum", "-c", name], cwd=self.repo))

    def seen(self, ref: str, expected: TreeStats) -> Seen:
        files = dirs = links = size = 0
        with tarfile.open(self.archive(ref)) as tf:
            for member in tf:
                if member.name in (".", "./"):
                    continue
                if member.issym():
                    links += 1
                elif member.isdir():
                    dirs += 1
                else:
                    files += 1
                    size += member.size
        got = TreeStats(files, dirs, links, size)
        return Seen(f"files={files:,} dirs={dirs:,} links={links:,} bytes={size:,}",
                    got == expected)


class Rsync(Tool):
    """Rollback only: ``rsync -a --delete`` from a mirror copy of the checkpointed tree."""

    key = "rsync"
    label = "rsync"
    needs = ("rsync",)

    def _excludes(self) -> list[str]:
        # rsync's filter rules are gitignore's ancestor: same meaning for "/x", "x/" and "*.x".
        # Excluded paths are also protected from --delete on the receiving side.
        return [f"--exclude={p}" for p in COMMON_EXCLUDES]

    def make_mirror(self, mirror: Path) -> None:
        """The mirror an operator would keep: a copy of the tree at checkpoint time (untimed)."""
        mirror.mkdir(parents=True, exist_ok=True)
        run_quiet(["rsync", "-a", "--delete", *self._excludes(), f"{self.site}/", f"{mirror}/"])

    def rollback(self, timer: Timer, ref: str, mirror: Path, archive: Path | None) -> Step:
        return Step(timer.run(["rsync", "-a", "--delete", *self._excludes(), f"{mirror}/",
                               f"{self.site}/"]))
