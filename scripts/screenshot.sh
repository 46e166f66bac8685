#!/usr/bin/env bash
# Take screenshots of the real window under a private Xvfb server.
#
#   scripts/screenshot.sh [--check] BINARY TAB...
#
# For each TAB, starts `BINARY --tab TAB` on the Xvfb display (a TAB written
# NAME@LANDSCAPE starts `BINARY --tab NAME --landscape LANDSCAPE` and is
# saved as NAME-LANDSCAPE.png: landscape@demo shows the demo cloud, whose
# telemetry carries injected faults, coloured by its anomalies), waits until a
# top-level window whose title starts with "Flowscape" exists (up to
# SCREENSHOT_WAIT seconds), lets it settle for SCREENSHOT_SETTLE seconds,
# captures the X root window into $SCREENSHOT_DIR/TAB.png and stops the app.
# The app's stdout and stderr go to $SCREENSHOT_DIR/TAB.log.
#
# With --check, it then fails if a screenshot is (nearly) blank inside the
# window, or if a log contains "Error in Fyne call thread", "panic:" or
# "DATA RACE", or if the app exited by itself before the screenshot.
#
# Environment: SCREENSHOT_DIR (screenshots), SCREENSHOT_WAIT (60),
# SCREENSHOT_SETTLE (6), SCREENSHOT_SIZE (1400x900x24),
# SCREENSHOT_MIN_COLORS (50), SCREENSHOT_MIN_STDDEV (0.02).
set -euo pipefail

check=false
if [ "${1:-}" = "--check" ]; then
	check=true
	shift
fi
if [ $# -lt 2 ]; then
	echo "usage: $0 [--check] BINARY TAB..." >&2
	exit 2
fi
bin=$1
shift
case $bin in */*) ;; *) bin=./$bin ;; esac

dir=${SCREENSHOT_DIR:-screenshots}
wait_s=${SCREENSHOT_WAIT:-60}
settle=${SCREENSHOT_SETTLE:-6}
size=${SCREENSHOT_SIZE:-1400x900x24}
min_colors=${SCREENSHOT_MIN_COLORS:-50}
min_stddev=${SCREENSHOT_MIN_STDDEV:-0.02}

for tool in Xvfb xwininfo import convert; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "screenshot: $tool not found (run make deps)" >&2
		exit 1
	fi
done
if [ ! -x "$bin" ]; then
	echo "screenshot: $bin is not an executable (run make build)" >&2
	exit 1
fi

mkdir -p "$dir"
tmp=$(mktemp -d)
xvfb_pid=
app_pid=

stop() { # stop PID: TERM, then KILL after 5 s
	local pid=$1 i
	kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
	kill -TERM "$pid" 2>/dev/null || true
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
cleanup() {
	[ -z "$app_pid" ] || stop "$app_pid"
	[ -z "$xvfb_pid" ] || stop "$xvfb_pid"
	local pid
	for pid in $(jobs -p); do kill "$pid" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Xvfb picks a free display itself and writes its number to fd 3 when ready.
Xvfb -displayfd 3 -screen 0 "$size" -nolisten tcp -noreset \
	3>"$tmp/display" >"$tmp/xvfb.log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 100); do
	[ -s "$tmp/display" ] && break
	kill -0 "$xvfb_pid" 2>/dev/null || break
	sleep 0.1
done
if [ ! -s "$tmp/display" ]; then
	echo "screenshot: Xvfb did not start:" >&2
	cat "$tmp/xvfb.log" >&2
	exit 1
fi
export DISPLAY=":$(head -n1 "$tmp/display")"
echo "screenshot: Xvfb on $DISPLAY ($size)"

# A fixed, private environment so screenshots do not depend on the caller's
# preferences or locale (LANG is set for the app only: the X tools would
# complain about a locale that is not generated).
export XDG_CONFIG_HOME="$tmp/config" XDG_DATA_HOME="$tmp/data" XDG_CACHE_HOME="$tmp/cache"
export FYNE_SCALE=${FYNE_SCALE:-1}

failures=()
fail() {
	echo "screenshot: FAIL: $*" >&2
	failures+=("$*")
}

window_id() { # id of a top-level window titled "Flowscape…", or nothing
	xwininfo -root -tree 2>/dev/null |
		awk '$1 ~ /^0x/ && $2 ~ /^"Flowscape/ { print $1; exit }'
}

for spec in "$@"; do
	args=(--tab "${spec%%@*}")
	tab=$spec
	if [ "${spec#*@}" != "$spec" ]; then
		args+=(--landscape "${spec#*@}")
		tab=${spec%%@*}-${spec#*@}
	fi
	png=$dir/$tab.png
	log=$dir/$tab.log
	rm -f "$png"
	echo "screenshot: $bin ${args[*]}"
	LANG=en_US.UTF-8 "$bin" "${args[@]}" >"$log" 2>&1 &
	app_pid=$!

	wid=
	deadline=$((SECONDS + wait_s))
	while [ $SECONDS -lt $deadline ]; do
		wid=$(window_id)
		[ -z "$wid" ] || break
		kill -0 "$app_pid" 2>/dev/null || break
		sleep 0.5
	done
	if [ -z "$wid" ]; then
		if kill -0 "$app_pid" 2>/dev/null; then
			fail "$tab: no \"Flowscape\" window after ${wait_s}s (log: $log)"
		else
			wait "$app_pid" && rc=0 || rc=$?
			fail "$tab: the app exited with status $rc before its window appeared (log: $log)"
		fi
		stop "$app_pid"
		app_pid=
		tail -n 20 "$log" >&2 || true
		continue
	fi
	sleep "$settle" & # in the background, so a signal is handled at once
	wait $!

	if ! kill -0 "$app_pid" 2>/dev/null; then
		wait "$app_pid" && rc=0 || rc=$?
		fail "$tab: the app exited with status $rc during the settle delay (log: $log)"
	fi
	import -window root "$png"
	geometry=$(xwininfo -id "$wid" | awk '
		/Absolute upper-left X/ { x = $NF } /Absolute upper-left Y/ { y = $NF }
		/Width:/ { w = $NF } /Height:/ { h = $NF }
		END { printf "%dx%d+%d+%d", w, h, x, y }')
	# Fyne quits on SIGTERM; after that it runs fyne.Do callbacks on the
	# calling goroutine and logs "Error in Fyne call thread" for them. So
	# only the log up to the capture is judged for thread errors and races;
	# the shutdown part only for panics.
	running_bytes=$(wc -c <"$log")
	stop "$app_pid"
	app_pid=
	echo "screenshot: wrote $png (window $geometry), log $log"

	$check || continue
	# Judge the window's area only: the black root around it is not content.
	colors= stddev=
	read -r colors stddev < <(convert "$png" -crop "$geometry" +repage \
		-format '%k %[fx:standard_deviation]\n' info:) || true
	if [ -z "${colors:-}" ] || [ -z "${stddev:-}" ]; then
		fail "$tab: could not measure $png"
		continue
	fi
	echo "screenshot: $tab: $colors colours, standard deviation $stddev"
	if [ "$colors" -lt "$min_colors" ] ||
		awk -v s="$stddev" -v m="$min_stddev" 'BEGIN { exit !(s < m) }'; then
		fail "$tab: $png looks blank ($colors colours < $min_colors or deviation $stddev < $min_stddev)"
	fi
	head -c "$running_bytes" "$log" >"$tmp/running.log"
	tail -c +"$((running_bytes + 1))" "$log" >"$tmp/stopping.log"
	bad=$(grep -cE 'Error in Fyne call thread|panic:|DATA RACE' "$tmp/running.log" || true)
	if [ "$bad" -gt 0 ]; then
		grep -nE 'Error in Fyne call thread|panic:|DATA RACE' "$tmp/running.log" | head -n 10 >&2
		fail "$tab: $log has $bad line(s) with errors (first ones above)"
	fi
	late=$(grep -c 'Error in Fyne call thread' "$tmp/stopping.log" || true)
	if [ "$late" -gt 0 ]; then
		echo "screenshot: note: $late thread error(s) after SIGTERM: goroutines still calling fyne.Do after the app quit"
	fi
	if grep -n 'panic:' "$tmp/stopping.log" >&2; then
		fail "$tab: the app panicked while stopping (see $log)"
	fi
done

if [ ${#failures[@]} -gt 0 ]; then
	echo "screenshot: ${#failures[@]} problem(s):" >&2
	printf '  %s\n' "${failures[@]}" >&2
	exit 1
fi
