"""A fleet rollback over real SSH: Debian's sshd, started by the test on 127.0.0.1 inside a
network namespace of its own, with a test-only host key pinned in a known_hosts file
(StrictHostKeyChecking=yes), a test-only client key, no agent forwarding and no password. The
controller (``safepoint fleet``) runs in the namespace too; the host's site has a command
health check (the test process's HTTP servers are outside the namespace)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fleet.fleetsite import SKIP, controller_env, use_repository
from tests.helpers import SAFEPOINT, snapshot, sp, write

pytestmark = pytest.mark.slow

SSHD = "/usr/sbin/sshd"
PORT = 2222  # inside the namespace, whose only interface is its own lo: no other user of it


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root to create a network namespace (CI runs as root)"
    for tool in (SSHD, shutil.which("ip"), shutil.which("ssh"), shutil.which("ssh-keygen")):
        if tool is None or not os.path.exists(tool):
            return "needs openssh-server, openssh-client and iproute2 (.ci/run installs them)"
    return None


@dataclass
class SshHost:
    namespace: str
    inventory: Path
    root: Path
    env: dict[str, str]

    def fleet(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "SAFEPOINT_ROOT"}
        env.update(self.env)
        return subprocess.run(
            ["ip", "netns", "exec", self.namespace, SAFEPOINT, "fleet", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "safepoint-test", "-f", str(path)],
        check=True,
        timeout=30,
    )


@pytest.fixture
def ssh_host(tmp_path: Path) -> Iterator[SshHost]:
    why = _why_not()
    if why:
        pytest.skip(why)
    namespace = f"spfleet-{secrets.token_hex(4)}"
    made = subprocess.run(["ip", "netns", "add", namespace], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"network namespaces are not allowed here: {made.stderr.strip()}")
    sshd: subprocess.Popen[bytes] | None = None
    try:
        subprocess.run(
            ["ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up"],
            check=True,
            timeout=30,
        )
        keys = tmp_path / "ssh"
        keys.mkdir(mode=0o700)
        _keygen(keys / "host_key")
        _keygen(keys / "client_key")
        shutil.copy(keys / "client_key.pub", keys / "authorized_keys")
        host_pub = (keys / "host_key.pub").read_text().split()[:2]
        (keys / "known_hosts").write_text(f"[127.0.0.1]:{PORT} {' '.join(host_pub)}\n")
        config = keys / "sshd_config"
        config.write_text(
            f"""Port {PORT}
ListenAddress 127.0.0.1
HostKey {keys / "host_key"}
AuthorizedKeysFile {keys / "authorized_keys"}
PidFile {keys / "sshd.pid"}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowAgentForwarding no
AllowTcpForwarding no
X11Forwarding no
UsePAM no
StrictModes no
"""
        )
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation
        sshd = subprocess.Popen(
            ["ip", "netns", "exec", namespace, SSHD, "-D", "-e", "-f", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=open(keys / "sshd.log", "wb"),  # noqa: SIM115 (closed with the process)
        )
        _wait_listening(namespace, sshd, keys / "sshd.log")

        root = tmp_path / "site"
        write(root / "app.txt", "v1\n")
        write(root / "health.txt", "ok\n")
        use_repository(root, tmp_path / "repository")
        # healthy only with what the playbook's safepoint_environment gives the host's safepoint
        write(root / "healthcheck.sh", 'test "$SITE_TOKEN" = s3cret && grep -q ok health.txt\n')
        with open(root / "safepoint.toml", "a") as toml:
            toml.write(
                "\n[health]\nretries = 2\ninterval = 0.2\nsettle = 0.2\n"
                '[[health.command]]\nrun = "sh healthcheck.sh"\n'
            )
        sp("create", "--label", "v1", cwd=root, check=True)
        write(root / "app.txt", "v2\n")
        sp("create", "--label", "v2", cwd=root, check=True)

        ssh_args = (
            f"-o UserKnownHostsFile={keys / 'known_hosts'} -o StrictHostKeyChecking=yes "
            f"-o IdentitiesOnly=yes -o ForwardAgent=no -o ControlMaster=no"
        )
        inventory = tmp_path / "inventory.ini"
        inventory.write_text(
            f"[web]\nsshweb ansible_host=127.0.0.1 ansible_port={PORT} ansible_user=root "
            f"ansible_ssh_private_key_file={keys / 'client_key'} safepoint_root={root}\n\n"
            f"[web:vars]\nansible_connection=ssh\nansible_python_interpreter={sys.executable}\n"
            f"safepoint_executable={SAFEPOINT}\nansible_ssh_common_args='{ssh_args}'\n"
            # what the host's safepoint needs in its environment (as a passphrase from vault)
            'safepoint_environment={"SITE_TOKEN": "s3cret"}\n'
        )
        env = controller_env(tmp_path)
        # No ControlPersist master left behind after the run; no agent offered.
        env.update({"ANSIBLE_SSH_ARGS": "-o ControlMaster=no", "SSH_AUTH_SOCK": ""})
        yield SshHost(namespace, inventory, root, env)
    finally:
        if sshd is not None:
            sshd.terminate()
            try:
                sshd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                sshd.kill()
                sshd.wait(timeout=10)
        subprocess.run(["ip", "netns", "del", namespace], timeout=30, check=False)


def _wait_listening(namespace: str, sshd: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if sshd.poll() is not None:
            raise AssertionError(f"sshd exited: {log.read_text()}")
        probe = subprocess.run(
            ["ip", "netns", "exec", namespace, "ss", "-ltn", f"sport = :{PORT}"],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if f":{PORT}" in probe.stdout:
            return
        time.sleep(0.1)
    raise AssertionError(f"sshd did not listen within 20 s: {log.read_text()}")


def test_fleet_rollback_and_undo_over_ssh(ssh_host: SshHost) -> None:
    before = snapshot(ssh_host.root, skip=SKIP)
    inventory = str(ssh_host.inventory)
    proc = ssh_host.fleet("rollback", "v1", "--inventory", inventory, "--yes", "--batches", "1")
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    assert "sshweb" in proc.stdout and "rolled back" in proc.stdout
    assert (ssh_host.root / "app.txt").read_text() == "v1\n"

    status = ssh_host.fleet("status", "--inventory", inventory)
    assert status.returncode == 0, status.stderr
    assert "v1: rolled back" in status.stdout

    undo = ssh_host.fleet("undo")
    assert undo.returncode == 0, (undo.stdout, undo.stderr)
    assert snapshot(ssh_host.root, skip=SKIP) == before
