#!/bin/bash
# baseline_curl_jq.sh - the "no filesystem" baseline for bench/run: page a
# list of the platform API with curl (limit=500, nextToken) and split every
# page with jq into one pretty JSON file per item, the way a user without
# apisecfs would mirror the data before running grep/jq over it.
#
#   baseline_curl_jq.sh URL TOKEN_FILE OUTDIR [KIND...]
#
# KIND is one of (default: vulns)
#   vulns  GET /v1/vulnerabilities -> OUTDIR/vulns/<id>.json
#   jsonl  GET /v1/vulnerabilities -> OUTDIR/vulns/all.jsonl, one item a line
#   apps   GET /v1/applications    -> OUTDIR/apps/<id>.json
# TOKEN_FILE holds the API token (mode 0600); the token never appears on a
# command line: curl reads the Authorization header from a private file.
# One curl, one jq and one awk per page (a careful script, not a parallel
# one: the pages are fetched one after another, since each nextToken comes
# from the page before).
set -euo pipefail

if [ $# -lt 3 ]; then
	echo "usage: $0 URL TOKEN_FILE OUTDIR [vulns|jsonl|apps...]" >&2
	exit 2
fi
url=${1%/}
token_file=$2
out=$3
shift 3
[ $# -gt 0 ] || set -- vulns

work=$(mktemp -d "${TMPDIR:-/tmp}/baseline-curl-jq.XXXXXX")
trap 'rm -rf "$work"' EXIT
umask 077
printf 'Authorization: Bearer %s\n' "$(head -n1 "$token_file")" >"$work/auth"

# fetch_list API_PATH ID_FIELD DIR [JSONL]: every page of API_PATH, each
# item written as DIR/<ID_FIELD>.json pretty-printed by jq or, with JSONL,
# appended to that file as one compact line. Per page one pipeline: curl
# streams the page into one jq pass, whose first line (the next token) awk
# keeps aside and whose items awk writes out; bash reads the token back
# with a builtin, so no process is started per item.
fetch_list() {
	local path=$1 field=$2 dir=$3 jsonl=${4:-} next=""
	mkdir -p "$dir"
	[ -z "$jsonl" ] || : >"$jsonl"
	while :; do
		local args=(-sS --fail -G -H "@$work/auth" --data limit=500)
		[ -n "$next" ] && args+=(--data-urlencode "nextToken=$next")
		if [ -n "$jsonl" ]; then
			# Line 1: the next token (or ""); then one item a line.
			curl "${args[@]}" "$url$path" |
				jq -r '(.nextToken // ""), (.items[] | tojson)' |
				awk -v nt="$work/next" 'NR == 1 { print > nt; next } { print }' \
					>>"$jsonl"
		else
			# Line 1: the next token; then "=> ID" and the pretty item.
			curl "${args[@]}" "$url$path" |
				jq -r --arg f "$field" \
					'(.nextToken // ""), (.items[] | ("=> " + .[$f]), .)' |
				awk -v dir="$dir" -v nt="$work/next" '
					NR == 1 { print > nt; next }
					/^=> / { if (f) close(f); f = dir "/" substr($0, 4) ".json"; next }
					{ print > f }'
		fi
		next=""
		read -r next <"$work/next" || true
		[ -n "$next" ] || break
	done
}

for kind in "$@"; do
	case $kind in
	vulns) fetch_list /v1/vulnerabilities vulnerabilityId "$out/vulns" ;;
	jsonl) fetch_list /v1/vulnerabilities vulnerabilityId "$out/vulns" \
		"$out/vulns/all.jsonl" ;;
	apps) fetch_list /v1/applications applicationId "$out/apps" ;;
	*)
		echo "$0: unknown kind $kind" >&2
		exit 2
		;;
	esac
done
