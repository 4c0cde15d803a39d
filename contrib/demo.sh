#!/bin/sh
# demo.sh - try apisecfs with no account: build it, start the platform
# simulator from tests/sim, and mount it.
#
#   contrib/demo.sh [MOUNTPOINT]        start (default /tmp/apisecfs-demo)
#   contrib/demo.sh stop [MOUNTPOINT]   unmount and stop the simulator
#
# Run from anywhere inside a source checkout. The simulator holds 20
# applications and 2000 findings; its scans take 5 seconds. State (pid
# files, the simulator's credentials, the admin token, both logs) lives in
# MOUNTPOINT.state/, private to root, and is removed by "stop".
#
# It runs as root: it installs the packages it needs, and "stop" must
# reach the processes "start" made. A user goes through sudo when there is
# one; a fresh Debian machine often has none.
set -eu
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 && exec sudo "$0" "$@"
	echo "demo: needs root (it installs packages and mounts); run it as root, sudo is not installed" >&2
	exit 1
fi

top=$(cd "$(dirname "$0")/.." && pwd)
cmd=start
if [ "${1:-}" = stop ] || [ "${1:-}" = start ]; then
	cmd=$1
	shift
fi
mnt=${1:-/tmp/apisecfs-demo}
case $mnt in
/*) ;;
*) mnt=$PWD/$mnt ;;
esac
mnt=${mnt%/}
state=$mnt.state
bin=$top/build/apisecfs

say() { printf 'demo: %s\n' "$*"; }
die() {
	printf 'demo: %s\n' "$*" >&2
	exit 1
}

mounted() {
	# /proc/mounts escapes spaces as \040; demo paths rarely have any.
	awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/mounts
}

# alive PIDFILE WORD: the process in PIDFILE runs and its command line
# contains WORD (so a recycled pid is never signalled).
alive() {
	[ -s "$1" ] || return 1
	pid=$(cat "$1")
	[ -r "/proc/$pid/cmdline" ] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$2"
}

# stop_pid PIDFILE WORD: TERM, wait up to 10 s, then KILL.
stop_pid() {
	alive "$1" "$2" || return 0
	pid=$(cat "$1")
	kill "$pid" 2>/dev/null || return 0
	i=0
	while alive "$1" "$2" && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if alive "$1" "$2"; then
		kill -9 "$pid" 2>/dev/null || true
	fi
}

stop() {
	if mounted "$mnt"; then
		fusermount3 -u "$mnt" ||
			die "cannot unmount $mnt (in use? leave it, then run: $0 stop $mnt)"
		say "unmounted $mnt"
	fi
	stop_pid "$state/apisecfs.pid" apisecfs
	stop_pid "$state/sim.pid" platform_sim.py
	if [ -d "$state" ]; then
		if [ -f "$state/created-mountpoint" ]; then
			rmdir "$mnt" 2>/dev/null || true
		fi
		rm -rf "$state"
		say "simulator stopped, $state removed"
	else
		say "nothing to stop for $mnt"
	fi
}

# run_detached PIDFILE LOG CMD...: start CMD in its own session (a closed
# terminal does not take it down), stdin from /dev/null, output to LOG;
# PIDFILE gets the pid of CMD itself.
run_detached() {
	pidfile=$1 log=$2
	shift 2
	# shellcheck disable=SC2016 # $$ and $@ belong to the inner sh
	setsid sh -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" \
		</dev/null >"$log" 2>&1 &
	i=0
	while ! [ -s "$pidfile" ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}

start() {
	if alive "$state/sim.pid" platform_sim.py || mounted "$mnt"; then
		die "already running on $mnt; stop it first: $0 stop $mnt"
	fi
	rm -rf "$state"

	cd "$top"
	./contrib/install-deps.sh
	[ -d build ] || meson setup build
	ninja -C build

	umask 077
	mkdir -p "$state"
	if ! [ -d "$mnt" ]; then
		mkdir -p "$mnt"
		: >"$state/created-mountpoint"
	fi

	run_detached "$state/sim.pid" "$state/sim.log" \
		/usr/bin/python3 "$top/tests/sim/platform_sim.py" --port 0 \
		--apps 20 --vulns 2000 --scan-seconds 5 \
		--write-credentials "$state/creds.json"
	url=
	i=0
	while [ -z "$url" ] && [ $i -lt 300 ]; do
		url=$(sed -n 's/^listening on //p' "$state/sim.log" 2>/dev/null)
		[ -n "$url" ] && break
		alive "$state/sim.pid" platform_sim.py || break
		sleep 0.1
		i=$((i + 1))
	done
	if [ -z "$url" ]; then
		cat "$state/sim.log" >&2 || true
		stop
		die "the simulator did not start"
	fi

	# The admin token, in a file only its owner can read (umask 077):
	# apisecfs refuses a token file that group or others can read.
	/usr/bin/python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["admin_token"])' "$state/creds.json" \
		>"$state/token"

	run_detached "$state/apisecfs.pid" "$state/apisecfs.log" \
		"$bin" -f -o token_file="$state/token" "$url" "$mnt"
	i=0
	while ! mounted "$mnt"; do
		if ! alive "$state/apisecfs.pid" apisecfs || [ $i -ge 200 ]; then
			cat "$state/apisecfs.log" >&2 || true
			stop
			die "apisecfs did not mount"
		fi
		sleep 0.1
		i=$((i + 1))
	done

	cat <<EOF
demo: the simulated platform $url is mounted on $mnt
demo: apisecfs's log: $state/apisecfs.log

Try:
  cd $mnt
  cat README whoami.json
  ls apps/ vulns/by-severity/critical/ | head
  grep -rl 'API1:2023' vulns/ | head
  jq -r 'select(.severity == "critical") | .title' vulns/all.jsonl | sort | uniq -c
  cat apps/payments-api/endpoints
  echo payments-api > scans/new; ls apps/payments-api/scans/
  $top/contrib/ci-scan.sh $mnt payments-api; echo "exit status \$?"
  man -l $top/build/man/apisecfs.1

Stop it all:
  $0 stop${1:+ $mnt}
EOF
}

case $cmd in
start) start "$@" ;;
stop) stop ;;
esac
