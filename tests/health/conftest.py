"""Fixtures for the health tests: a running Django site, and a check that a process is dead."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.djangosite import DjangoSite, running_site, wait_gone


@pytest.fixture
def django_site(tmp_path: Path) -> Iterator[DjangoSite]:
    """A Django project under gunicorn, serving 200 on its health URL; stopped afterwards."""
    with running_site(tmp_path) as site:
        yield site


@pytest.fixture
def assert_gone() -> Callable[[int], None]:
    """Assert that a process is dead (gone, or a zombie waiting for init to reap it); a
    survivor is killed so it does not outlive the test run."""

    def check(pid: int) -> None:
        if not wait_gone(pid):
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"process {pid} survived")

    return check
