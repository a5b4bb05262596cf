"""Remote repository (issue 17): create, 10-edit create and rollback on a generated tree with
the repository in S3 (a moto server on 127.0.0.1), in a local folder, and restic on the same
moto server. Run from the checkout: ``.venv/bin/python bench/remote.py [--files N | --site DIR]
[--runs N]`` (``--site``: a copy of that tree, e.g. the reference site of
``../shared/bench/make_django_site.sh``, whose 10 edits append a line to 10 of its ``.py``
files). Prints one line per step (wall seconds, the median of ``--runs``) and the bytes
safepoint sent and received per command (``SAFEPOINT_TRANSFER_LOG``, last run)."""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the moto server helper in tests/
from tests.store.backend.servers import moto_server, new_bucket

SAFEPOINT = str(Path(sys.executable).with_name("safepoint"))


def tree(root: Path, files: int, rng: random.Random) -> None:
    for i in range(files):
        path = root / f"app{i // 100:03}" / f"m{i % 100:03}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        text = (f"# {i}\n" * rng.randint(20, 400)).encode()
        path.write_bytes(text + rng.randbytes(rng.randint(200, 6000)))


def edit(root: Path, rng: random.Random) -> None:
    generated = root / "app000" / "m000.py"
    if generated.exists():
        for d in range(10):
            (root / f"app{d:03}" / "m000.py").write_bytes(rng.randbytes(4000))
        return
    skip = {".safepoint", ".safepoint-state", ".venv", "venv"}
    sources = sorted(
        p for p in root.rglob("*.py") if not skip & set(p.relative_to(root).parts)
    )
    for path in sources[:: max(1, len(sources) // 10)][:10]:
        with open(path, "a") as f:
            f.write(f"# edited {rng.random()}\n")


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed: {proc.stderr}")
    return time.monotonic() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=4000, help="size of the generated tree")
    parser.add_argument("--site", type=Path, help="copy this tree instead of generating one")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    runs = [one_run(args.files, args.site) for _ in range(args.runs)]
    rows, size, files, _ = runs[0]
    print(f"{files} files, {size / 1e6:.1f} MB, median of {len(runs)} run(s)")
    for name in rows:
        seconds = statistics.median(r[0][name] for r in runs)
        print(f"{name:58} {seconds:6.2f} s")
    print("bytes sent/received per safepoint command on S3 (last run):", runs[-1][3])


def one_run(files: int, site: Path | None) -> tuple[dict[str, float], int, int, list[object]]:
    rng = random.Random(1)
    work = Path(tempfile.mkdtemp(prefix="sp-remote-bench-"))
    rows: dict[str, float] = {}
    try:
        with moto_server(work) as server:
            log = work / "transfer.log"
            env = {
                **os.environ,
                **server.env(work),
                "SAFEPOINT_PASSWORD": "bench",
                "SAFEPOINT_TRANSFER_LOG": str(log),
            }
            url = f"s3://{new_bucket(server)}/sp"
            a = work / "a"
            if site is None:
                tree(a, files, rng)
            else:
                skip = shutil.ignore_patterns(".safepoint", ".safepoint-state", "safepoint.toml")
                shutil.copytree(site, a, symlinks=True, ignore=skip)
            regular = [p for p in a.rglob("*") if p.is_file() and not p.is_symlink()]
            files, size = len(regular), sum(p.stat().st_size for p in regular)
            (a / "safepoint.toml").write_text(f'[repository]\nurl = "{url}"\n')
            timed([SAFEPOINT, "init"], a, env)
            log.unlink(missing_ok=True)
            rows["safepoint, S3: create"] = timed([SAFEPOINT, "create", "--label", "A1"], a, env)
            edit(a, rng)
            rows["safepoint, S3: create after 10 edits"] = timed([SAFEPOINT, "create"], a, env)
            b = work / "b"
            b.mkdir()
            (b / "safepoint.toml").write_text(f'[repository]\nurl = "{url}"\n')
            timed([SAFEPOINT, "init"], b, env)
            rollback = [SAFEPOINT, "rollback", "A1", "--yes", "--no-health"]
            second = "safepoint, S3: rollback on a second host (downloads all)"
            rows[second] = timed(rollback, b, env)
            rows["safepoint, S3: rollback of the 10 edits"] = timed(rollback, a, env)
            moved = [json.loads(line) for line in log.read_text().splitlines()]

            c = work / "c"
            own = shutil.ignore_patterns(".safepoint-state", "safepoint.toml")
            shutil.copytree(a, c, ignore=own)
            timed([SAFEPOINT, "init"], c, env)
            rows["safepoint, local: create"] = timed([SAFEPOINT, "create", "--label", "A1"], c, env)
            edit(c, rng)
            rows["safepoint, local: create after 10 edits"] = timed([SAFEPOINT, "create"], c, env)
            rows["safepoint, local: rollback of the 10 edits"] = timed(rollback, c, env)

            restic = {
                **env,
                "RESTIC_PASSWORD": "bench",
                "RESTIC_REPOSITORY": f"s3:{server.endpoint}/{new_bucket(server)}/restic",
            }
            d = work / "d"
            shutil.copytree(c, d, ignore=shutil.ignore_patterns(".safepoint", "safepoint.toml"))
            timed(["restic", "init"], d, restic)
            rows["restic, S3: backup"] = timed(["restic", "backup", "-q", "."], d, restic)
            edit(d, rng)
            backup = ["restic", "backup", "-q", "."]
            rows["restic, S3: backup after 10 edits"] = timed(backup, d, restic)
            out = ["restic", "restore", "latest", "--target", str(work / "restored")]
            rows["restic, S3: restore into an empty folder"] = timed(out, d, restic)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows, size, files, moved


if __name__ == "__main__":
    main()
