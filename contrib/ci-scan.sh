#!/bin/sh
# ci-scan.sh - gate a CI build on an API-security scan, through apisecfs.
#
#   ci-scan.sh [--new-only] MOUNTPOINT APP
#
# Starts a scan of APP (its file name under MOUNTPOINT/apps/, or its
# applicationId) by writing to MOUNTPOINT/scans/new on one read-write
# descriptor, reads the new scan's id back from that descriptor, blocks on
# MOUNTPOINT/scans/ID/wait until the scan ends, then fails if the scan did
# not complete or found anything critical.
#
# With --new-only, only what this scan found new fails the build: the
# findings in scans/ID/diff/new/, whose weakness (fingerprint) the previous
# Completed scan of the instance did not report. Old findings, accepted or
# not fixed yet, then pass. The first scan of an instance has no previous
# scan (no diff/): all its findings count as new.
#
# The mount needs the scopes scans:write, scans:read and vulns:read (an API
# token made for CI, e.g. through tokens/new). For example:
#
#   export APISECFS_TOKEN=$CI_APISEC_TOKEN
#   apisecfs https://platform.example /mnt/apisec
#   contrib/ci-scan.sh /mnt/apisec payments-api
#   fusermount3 -u /mnt/apisec
#
# Environment:
#   FAIL_ON       severities that fail the build (default "critical"), any
#                 of: critical high medium low info
#   SCAN_TIMEOUT  give up (and cancel the scan) after this many seconds;
#                 default 0: wait as long as the scan runs
#
# Exit status:
#   0  the scan completed and found nothing (with --new-only: nothing
#      new) at a FAIL_ON severity
#   1  the scan completed with such findings (listed)
#   2  usage error, or the scan could not be started
#   3  the scan ended Failed or Cancelled, timed out, or could not be
#      waited for
set -eu

prog=ci-scan
FAIL_ON=${FAIL_ON:-critical}
SCAN_TIMEOUT=${SCAN_TIMEOUT:-0}

say() { printf '%s: %s\n' "$prog" "$*"; }
die() {
	code=$1
	shift
	printf '%s: %s\n' "$prog" "$*" >&2
	exit "$code"
}

new_only=
if [ "${1-}" = --new-only ]; then
	new_only=1
	shift
fi
[ $# -eq 2 ] || die 2 "usage: ci-scan.sh [--new-only] MOUNTPOINT APP"
mnt=${1%/}
app=$2

[ -d "$mnt/scans" ] ||
	die 2 "$mnt is not an apisecfs mount (no scans/ directory)"
case $app in
'' | */* | *'
'*) die 2 "not an application name: '$app'" ;;
esac
severities=
for s in $FAIL_ON; do
	case $s in
	critical | high | medium | low | info) severities="$severities|$s" ;;
	*) die 2 "FAIL_ON: unknown severity '$s'" ;;
	esac
done
[ -n "$severities" ] || die 2 "FAIL_ON is empty"
severities=${severities#|}
case $SCAN_TIMEOUT in
'' | *[!0-9]*) die 2 "SCAN_TIMEOUT must be a number of seconds" ;;
esac

# Without scans:write, scans/new cannot be opened to write (mode 0000, and
# EACCES even for root). Try in a subshell: a failed "exec 3<>" would end
# this shell. Opening and closing it without writing does nothing.
if ! (exec 3<>"$mnt/scans/new") 2>/dev/null; then
	die 2 "cannot open $mnt/scans/new: the mount's credential lacks scans:write"
fi

# ---- start the scan: one open file, one action, its reply ----------------

exec 3<>"$mnt/scans/new"
# The external printf: it names the error (ENOENT: no such application,
# EACCES: missing scope, EIO: platform unreachable); dash's builtin says
# only "I/O error". The action fires on this write, at the newline.
if ! env printf '%s\n' "$app" >&3; then
	exec 3>&-
	die 2 "cannot start a scan of '$app' (the reason is in apisecfs's log)"
fi
# The reply, the new scan's id and a newline, reads back from the same
# descriptor like a pipe.
id=
IFS= read -r id <&3 || true
exec 3>&-
case $id in
'' | */* | . | ..) id= ;;
esac
# The new scan shows in scans/ at once: a listing that was already on its
# way when the scan started is never applied over a newer one.
if [ -z "$id" ] || ! [ -d "$mnt/scans/$id" ]; then
	die 2 "a scan of '$app' was started, but its id could not be read back"
fi
say "$app: scan $id started"

# ---- wait for it ---------------------------------------------------------

scan=$mnt/scans/$id
if [ "$SCAN_TIMEOUT" -gt 0 ]; then
	# A read of wait ends when the scan does, so a deadline is kept by
	# cancelling the scan: the wait then answers Cancelled.
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	(
		sleep "$SCAN_TIMEOUT"
		: >"$tmp/expired"
		echo >"$scan/cancel"
	) </dev/null >/dev/null 2>&1 &
	watchdog=$!
	cat "$scan/wait" >"$tmp/status" && rc=0 || rc=$?
	kill "$watchdog" 2>/dev/null || true
	[ "$rc" -eq 0 ] ||
		die 3 "scan $id: cannot wait for it (the reason is in apisecfs's log)"
	status=$(cat "$tmp/status")
	if [ -e "$tmp/expired" ] && [ "$status" = Cancelled ]; then
		die 3 "scan $id: not finished after $SCAN_TIMEOUT s: cancelled"
	fi
else
	status=$(cat "$scan/wait") ||
		die 3 "scan $id: cannot wait for it (the reason is in apisecfs's log)"
fi
say "scan $id: $status"

if [ "$status" != Completed ]; then
	if [ -r "$scan/scan.json" ]; then
		reason=$(sed -n 's/^ *"failureReason": *"\(.*\)",\{0,1\}$/\1/p' \
			"$scan/scan.json")
		[ -z "$reason" ] || say "scan $id: $reason"
	fi
	die 3 "scan $id of '$app' ended $status"
fi

# ---- judge the findings ---------------------------------------------------

# scans/ID/vulns/ holds a link per finding of this scan; each is one
# pretty-printed JSON object with a "severity" field. diff/new/ holds the
# links of those the previous scan did not report. The scan's directory
# shows previous and diff/ as soon as the wait above has seen it end.
dir=$scan/vulns
what="finding(s)"
if [ -n "$new_only" ]; then
	what="new finding(s)"
	if [ -d "$scan/diff/new" ]; then
		dir=$scan/diff/new
		prev=$(readlink "$scan/previous") || prev=
		say "scan $id: compared with the previous scan ${prev##*/}"
	else
		say "scan $id: no previous scan of this instance: every finding is new"
	fi
fi
set -- "$dir/"*
[ -e "$1" ] || [ -L "$1" ] || set --
total=$#
bad=
if [ "$total" -gt 0 ]; then
	# grep: 0 some match, 1 none, 2 a file could not be read. A finding
	# that cannot be read must not pass the gate.
	bad=$(grep -lE "\"severity\": *\"($severities)\"" "$@") && rc=0 || rc=$?
	[ "$rc" -le 1 ] || die 3 "scan $id: cannot read its findings"
fi
n=0
if [ -n "$bad" ]; then
	n=$(printf '%s\n' "$bad" | wc -l)
	printf '%s\n' "$bad" | while IFS= read -r f; do
		sev=$(sed -n 's/^ *"severity": *"\(.*\)",\{0,1\}$/\1/p' "$f")
		title=$(sed -n 's/^ *"title": *"\(.*\)",\{0,1\}$/\1/p' "$f")
		printf '  %s %s: %s\n' "${f##*/}" "$sev" "$title"
	done
fi
gate=$(echo "$severities" | sed 's/|/, /g')
say "scan $id: $total $what, $n at severity $gate"
[ "$n" -eq 0 ] || exit 1
exit 0
