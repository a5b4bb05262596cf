"""The restore script's text: POSIX sh with ``@NAME@`` placeholders, which
``script.render_restore_script`` fills in (each value a single-quoted sh word, or escaped text
in a comment) and ``@DB_PART@``, the database part (``dbmember.SCRIPT_PART``). Its header
comment is the script's documentation for whoever runs it, years later: what it needs, what
it does in which order, and above all what it may remove.
"""

SCRIPT = r"""#!/bin/sh
# Restore script for the archive @ARCHIVE_C@,
# written by safepoint @VERSION@: checkpoint '@LABEL_C@' (@CPID_C@),
# created @CREATED_C@, of the site @ROOT_C@.
# It needs only sh, tar, @TOOL@ and sha256sum (curl for the health checks) besides the basic
# POSIX utilities (ls, mkdir, mv, rm, rmdir, date); not safepoint.
#
# Usage: sh @SCRIPT_C@ [--yes] [--backup-dir DIR] [--no-hooks] [--no-health] [--with-db]
#        [TARGET_DIR]
#
# TARGET_DIR defaults to the site root above. Keep the archive beside this script. In order:
#  1. The archive's SHA-256 is checked against the one recorded below; if it differs the
#     script stops with exit status 3 before anything is touched.
#  2. On a terminal it asks before going on (--yes does not ask).
#  3. All of TARGET_DIR as it is now, excluded files included (but not safepoint's own
#     repository, which nothing here touches), is saved to
#     BACKUP_DIR/<target name>_before-restore_<YYYYmmdd_HHMMSS>.@EXT@ with a .sha256 beside
#     it, both readable by their owner only (mode 0600: they hold the site's secrets).
#     BACKUP_DIR is --backup-dir (an existing folder), by default the folder that holds
#     TARGET_DIR; it may not be inside TARGET_DIR. If the backup cannot be made, nothing is
#     touched.
#  4. The paths listed at the end of this script, and only those, are removed from
#     TARGET_DIR: the files, symlinks and folders that safepoint tracked in the site when the
#     archive was made but that this checkpoint does not hold. Paths excluded from
#     checkpoints (the database, media/, venv/, logs/ ...) are never listed, so never
#     removed, and neither are files created after the export. A listed path is left alone
#     if its type changed (a listed file that is now a folder) or if it lies under a symlink;
#     a folder is removed only when empty; nothing is ever removed recursively.
#  5. The archive is extracted into TARGET_DIR: the checkpoint's files, folders and symlinks
#     replace what is at their paths, with their modes, times and (as root) owners. Nothing
#     else in TARGET_DIR changes. A database snapshot in the archive is left alone unless
#     --with-db is given: SQLite is then restored with sqlite3's .restore, a PostgreSQL dump
#     kept beside the backup with the commands to restore it.
#  6. Only when TARGET_DIR is the site root: the site's after_restore hooks run in it, then
#     its HTTP health checks run with curl (skipped when curl is not installed) and are
#     reported (--no-hooks, --no-health skip them).
# Exit status: 0 restored (and healthy, when checked); 1 failed (the message says how far it
# got; the backup is kept); 2 bad usage; 3 checksum mismatch (nothing touched); 4 restored,
# but a hook or a health check failed.

set -u
# Byte-wise names and messages for the script itself; the hooks get the caller's locale back.
caller_lc_all=${LC_ALL-}
caller_lc_all_set=${LC_ALL+1}
LC_ALL=C
export LC_ALL

ARCHIVE=@ARCHIVE@
ARCHIVE_SHA256=@SHA256@
SITE_ROOT=@ROOT@
LABEL=@LABEL@
CHECKPOINT=@CPID@
META=@META@
DB_FILE=@DB_FILE@
DB_ENGINE=@DB_ENGINE@
DB_NAME=@DB_NAME@
REPOSITORY=@REPOSITORY@
HEALTH_TIMEOUT=@TIMEOUT@
HEALTH_RETRIES=@RETRIES@
HEALTH_INTERVAL=@INTERVAL@
NL='
'

say() { printf 'restore: %s\n' "$*"; }

die() {
    code=$1
    shift
    printf 'restore: error: %s\n' "$*" >&2
    exit "$code"
}

usage() {
    printf '%s\n' \
        "usage: sh ${0##*/} [--yes] [--backup-dir DIR] [--no-hooks] [--no-health] [--with-db]" \
        "       [TARGET_DIR]" \
        "Restores checkpoint $LABEL from $ARCHIVE (default TARGET_DIR: $SITE_ROOT)." \
        "The comment at the top of this script says exactly what it does."
}

compress() { @COMPRESS@; }
decompress() { @DECOMPRESS@; }

# pipe A B: run "A | B" (two functions) and set p1 and p2 to their exit statuses.
pipe() {
    st=$({ { "$1"; echo "p1=$?" >&3; } | { "$2"; echo "p2=$?" >&3; }; } 3>&1)
    p1=${st#*p1=}
    p1=${p1%%[!0-9]*}
    p2=${st#*p2=}
    p2=${p2%%[!0-9]*}
    p1=${p1:-255}
    p2=${p2:-255}
}

backup_read() { (cd "$target" && tar -cf - ${REPOSITORY:+"--exclude=./$REPOSITORY"} .); }
# The backup holds the site's secrets: created 0600, never through a file already there.
backup_write() { (umask 077 && set -C && compress >"$backup.partial"); }
extract_read() { decompress <"$archive_path"; }
extract_write() { tar -xpf - -C "$target" $tar_quiet; }

# under_link PATH: true if a folder above PATH (inside the target) is a symlink or missing.
under_link() {
    rest=$1
    above=
    while :; do
        case $rest in */*) ;; *) return 1 ;; esac
        above=$above${rest%%/*}
        rest=${rest#*/}
        [ -L "$target/$above" ] && return 0
        [ -d "$target/$above" ] || return 0
        above=$above/
    done
}

run_hook() {
    say "running hook: $1"
    if ! (
        if [ -n "$caller_lc_all_set" ]; then LC_ALL=$caller_lc_all; else unset LC_ALL; fi
        cd "$target" && sh -c "$1"
    ); then
        say "hook failed: $1"
        status=4
    fi
}

# check_http URL STATUS BODY_CONTAINS: the check passes once an attempt gets STATUS (after
# redirects) and a body holding BODY_CONTAINS (any body when empty).
check_http() {
    attempt=1
    while :; do
        out=$(curl -s -L --max-time "$HEALTH_TIMEOUT" -w '\n%{http_code}' "$1" 2>/dev/null)
        code=${out##*"$NL"}
        body=${out%"$NL"*}
        if [ "$code" = "$2" ]; then
            case $body in *"$3"*)
                say "health: $1: OK ($code)"
                return 0
                ;;
            esac
            why="the body does not contain '$3'"
        elif [ "$code" = 000 ] || [ -z "$code" ]; then
            why="no response"
        else
            why="status $code, expected $2"
        fi
        [ "$attempt" -lt "$HEALTH_RETRIES" ] || break
        attempt=$((attempt + 1))
        [ "$HEALTH_INTERVAL" = 0 ] || sleep "$HEALTH_INTERVAL"
    done
    say "health: $1: FAILED after $attempt attempt(s): $why"
    status=4
}

run_hooks() {
@HOOKS@
}

run_checks() {
@CHECKS@
}

main() {
    yes=0
    hooks=1
    health=1
    with_db=0
    backup_dir=
    target=
    while [ $# -gt 0 ]; do
        case $1 in
        -y | --yes) yes=1 ;;
        --no-hooks) hooks=0 ;;
        --no-health) health=0 ;;
        --with-db) with_db=1 ;;
        --backup-dir=*) backup_dir=${1#*=} ;;
        --backup-dir)
            [ $# -ge 2 ] || die 2 "--backup-dir needs a folder"
            backup_dir=$2
            shift
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        --)
            shift
            break
            ;;
        -*) die 2 "unknown option $1 (see --help)" ;;
        *)
            [ -z "$target" ] || die 2 "give one TARGET_DIR at most"
            target=$1
            ;;
        esac
        shift
    done
    if [ $# -gt 0 ]; then
        [ -z "$target" ] && [ $# -eq 1 ] || die 2 "give one TARGET_DIR at most"
        target=$1
    fi
    [ -n "$target" ] || target=$SITE_ROOT
    case $target in -*) target=./$target ;; esac
    # GNU tar warns about the PAX keyword hdrcharset (non-UTF-8 names), then handles them right.
    tar_quiet=
    case $(tar --version 2>/dev/null) in *GNU*) tar_quiet=--warning=no-unknown-keyword ;; esac

    for tool in tar sha256sum @TOOL@; do
        command -v "$tool" >/dev/null 2>&1 || die 1 "$tool is needed but not installed"
    done
    [ "$with_db" = 0 ] || [ -n "$DB_FILE" ] || die 2 "--with-db: this archive has no database"
    [ "$with_db" = 0 ] || [ "$DB_ENGINE" != sqlite ] || command -v sqlite3 >/dev/null 2>&1 ||
        die 1 "--with-db needs sqlite3 (apt-get install sqlite3); nothing was changed"
    case $0 in */*) here=${0%/*} ;; *) here=. ;; esac
    here=$(cd "$here" && pwd -P) || die 1 "cannot find the folder of this script"
    archive_path=$here/$ARCHIVE
    [ -f "$archive_path" ] || die 1 "$archive_path not found (keep the archive beside this script)"

    # 1. the checksum, before anything else
    say "checking $archive_path"
    sum=$(sha256sum <"$archive_path") || die 1 "cannot read $archive_path"
    sum=${sum%% *}
    [ "$sum" = "$ARCHIVE_SHA256" ] || die 3 "checksum mismatch for $archive_path" \
        "(expected $ARCHIVE_SHA256, got $sum): the archive is damaged; nothing was changed"
    say "checksum OK ($sum)"

    if [ -e "$target" ] || [ -L "$target" ]; then
        [ -d "$target" ] || die 2 "$target exists and is not a folder"
    else
        mkdir -p "$target" || die 1 "cannot create $target"
    fi
    target=$(cd "$target" && pwd -P) || die 1 "cannot enter $target"
    [ "$target" != / ] || die 2 "refusing to restore into /"
    [ ! -L "$target/$META" ] || die 1 "$target/$META is a symlink; remove it first"
    site_root=$(cd "$SITE_ROOT" 2>/dev/null && pwd -P) || site_root=$SITE_ROOT
    site_mode=0
    [ "$target" = "$site_root" ] && site_mode=1
    [ -n "$backup_dir" ] || backup_dir=${target%/*}
    [ -n "$backup_dir" ] || backup_dir=/
    [ -d "$backup_dir" ] || die 2 "the backup folder $backup_dir does not exist"
    backup_dir=$(cd "$backup_dir" && pwd -P) ||
        die 1 "cannot use the backup folder $backup_dir; nothing was changed"
    case $backup_dir/ in "$target"/*)
        die 2 "the backup folder $backup_dir is inside $target; choose another with --backup-dir"
        ;;
    esac
    say "checkpoint $LABEL ($CHECKPOINT) into $target"

    # 2. confirmation, on a terminal only
    if [ "$yes" = 0 ] && [ -t 0 ]; then
        printf 'restore: replace the checkpoint files in %s (after a backup)? [y/N] ' "$target"
        read -r answer || answer=
        case $answer in y | Y | yes | YES) ;; *) die 1 "cancelled; nothing was changed" ;; esac
    fi

    # 3. a backup of the whole target
    backup=
    if [ -n "$(ls -A "$target")" ]; then
        backup=$backup_dir/${target##*/}_before-restore_$(date +%Y%m%d_%H%M%S)
        if [ -e "$backup.@EXT@" ]; then # run twice within a second: keep both backups
            n=2
            while [ -e "$backup-$n.@EXT@" ]; do n=$((n + 1)); done
            backup=$backup-$n
        fi
        backup=$backup.@EXT@
        say "saving the current $target to $backup"
        rm -f "$backup.partial"
        pipe backup_read backup_write
        # GNU tar exits 1 when a file changed while it was read (a live log): still a backup.
        if [ "$p1" -gt 1 ] || [ "$p2" != 0 ]; then
            rm -f "$backup.partial"
            die 1 "could not save $target to $backup; nothing was changed"
        fi
        mv -f "$backup.partial" "$backup" || die 1 "could not save $backup; nothing was changed"
        (cd "$backup_dir" && umask 077 && rm -f "${backup##*/}.sha256" &&
            sha256sum "${backup##*/}" >"${backup##*/}.sha256") ||
            say "warning: could not write $backup.sha256"
    fi

    # 4. remove what the site tracked when the archive was made and the checkpoint lacks
    removed=0
    remove_listed
    say "removed $removed path(s) that the checkpoint does not hold"

    # 5. extract
    say "extracting into $target"
    pipe extract_read extract_write
    [ "$p1" != 0 ] || [ "$p2" != 0 ] || restore_database ||
        die 1 "the files were restored, but not the database${backup:+; see $backup}"
    for f in @META_FILES@; do rm -f "$target/$META/$f"; done
    rmdir "$target/$META" 2>/dev/null
    [ "$p1" = 0 ] && [ "$p2" = 0 ] || die 1 "extraction failed; $target may be partly" \
        "restored${backup:+; its previous state is in $backup}"

    # 6. hooks and health checks, in the site root only
    status=0
    if [ "$site_mode" = 1 ]; then
        [ "$hooks" = 0 ] || run_hooks
        if [ "$health" = 1 ] && [ @HAS_CHECKS@ = 1 ]; then
            if command -v curl >/dev/null 2>&1; then
                run_checks
            else
                say "curl is not installed: health checks skipped"
            fi
        fi
    elif [ @HAS_HOOKS@ = 1 ] || [ @HAS_CHECKS@ = 1 ]; then
        say "$target is not the site root $SITE_ROOT: hooks and health checks skipped"
    fi
    kept=${backup:+; its previous state is in $backup}
    if [ "$status" = 0 ]; then
        say "done: $target holds checkpoint $LABEL$kept"
    else
        say "restored, but a hook or a health check failed$kept"
    fi
    exit "$status"
}

# Step 4: the paths this script may remove, as "KIND PATH" (f file, d folder, l symlink),
# deepest first. Only these, and only as the comment at the top says.
remove_listed() {
    while IFS= read -r line; do
        kind=${line%% *}
        path=${line#* }
        case /$path/ in //* | */../* | */./* | *//*) continue ;; esac
        under_link "$path" && continue
        file=$target/$path
        case $kind in
        f) [ -f "$file" ] && [ ! -L "$file" ] && rm -f "$file" && removed=$((removed + 1)) ;;
        l) [ -L "$file" ] && rm -f "$file" && removed=$((removed + 1)) ;;
        d) [ -d "$file" ] && [ ! -L "$file" ] && rmdir "$file" 2>/dev/null &&
            removed=$((removed + 1)) ;;
        esac
    done <<'@END@'
@LIST@@END@
}

@DB_PART@
main "$@"
"""
