"""``safepoint key add|list|remove`` and ``safepoint unlock``: a remote repository's key slots
and its lock (ops/remote.py)."""

from __future__ import annotations

import click

from safepoint.cli.common import output, site, site_options
from safepoint.ops import remote


@click.group()
def key() -> None:
    """The passphrases (key slots) of a remote repository."""


@key.command("list")
@site_options
@click.pass_context
def list_(ctx: click.Context, root: str | None, json_mode: bool) -> None:
    """List the key slots: slot, label, host and time it was added."""
    out = output(ctx, json_mode)
    with site(root) as s:
        slots = remote.list_keys(s)
    if json_mode:
        out.json([vars(k) for k in slots])
        return
    for k in slots:
        out.line(f"{k.slot}  {k.created}  {k.host}  {k.label}")


@key.command("add")
@click.option("--label", default="", help="What the new passphrase is for (shown by list).")
@site_options
@click.pass_context
def add(ctx: click.Context, label: str, root: str | None, json_mode: bool) -> None:
    """Add a passphrase: the current one from SAFEPOINT_PASSWORD(_FILE) or a prompt, the new
    one from SAFEPOINT_NEW_PASSWORD(_FILE) or a prompt."""
    out = output(ctx, json_mode)
    with site(root) as s:
        slot = remote.add_key(s, label)
    if json_mode:
        out.json({"slot": slot, "label": label})
        return
    out.line(f"added key slot {slot}")


@key.command("remove")
@click.argument("slot")
@site_options
@click.pass_context
def remove(ctx: click.Context, slot: str, root: str | None, json_mode: bool) -> None:
    """Remove key slot SLOT (never the last one)."""
    out = output(ctx, json_mode)
    with site(root) as s:
        remote.remove_key(s, slot)
    if json_mode:
        out.json({"removed": slot})
        return
    out.line(f"removed key slot {slot}")


@click.command()
@click.option("--force", is_flag=True, help="Remove the lock even if its holder looks alive.")
@site_options
@click.pass_context
def unlock(ctx: click.Context, force: bool, root: str | None, json_mode: bool) -> None:
    """Remove a remote repository's stale lock (a fresh one only with --force)."""
    out = output(ctx, json_mode)
    with site(root) as s:
        holder = remote.unlock(s, force=force)
    if json_mode:
        out.json({"removed": holder.describe() if holder else None})
        return
    out.line(f"removed the lock of {holder.describe()}" if holder else "there was no lock")
