#!/bin/sh
# Instructions per pass and per input byte of `parse` contestants and `server_throughput`
# drivers, counted by callgrind (independent of the machine's load): each is run by
# examples/profile.rs with 1 and with 3 passes, and half the difference is one pass, without
# the corpus generation and the session set-up. Run from the workspace root:
#
#   cargo build --release -p xmpp-benches --example profile
#   XMPP_BENCH_BYTES=1000000 sh benches/instructions.sh ours/1500 ours/1500/read c2s/server
#
# Prints a Markdown table.
set -eu
bin=${CARGO_TARGET_DIR:-target}/release/examples/profile
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" 2>&1
}
echo "| contestant | bytes per pass | instructions per pass | per byte |"
echo "| --- | ---: | ---: | ---: |"
for name in "$@"; do
    one=$(count "$name" 1)
    three=$(count "$name" 3)
    bytes=$(echo "$one" | awk -v n="$name" '$1 == n ":" { print $4 }')
    ir1=$(echo "$one" | awk '/Collected :/ { print $4 }')
    ir3=$(echo "$three" | awk '/Collected :/ { print $4 }')
    awk -v n="$name" -v b="$bytes" -v a="$ir1" -v c="$ir3" \
        'BEGIN { p = (c - a) / 2; printf "| %s | %d | %.0f | %.1f |\n", n, b, p, p / b }'
done
