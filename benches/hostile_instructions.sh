#!/bin/sh
# Instructions per input byte of every input of the `hostile` bench, on every driver and
# feed, counted by callgrind (independent of the machine's load), as a Markdown table with
# the ratio to `plain-b` (`<b/>` repeated) on the same driver and feed. Only the feeding is
# counted (see examples/hostile_profile.rs). Run from the workspace root:
#
#   cargo build --release -p xmpp-benches --example hostile_profile
#   sh benches/hostile_instructions.sh
#
# XMPP_HOSTILE_SCALE is passed on to the example.
set -eu
bin=${CARGO_TARGET_DIR:-target}/release/examples/hostile_profile
inputs="plain-b ns-decode deep-scope dense-x-b many-attrs dup-attrs long-names long-value deep-nesting corpus"
echo "| driver | input | bytes | whole Ir/B | × plain-b | 1500 Ir/B | × plain-b | 64 Ir/B | × plain-b |"
echo "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
for driver in parser server server-online; do
    for input in $inputs; do
        if [ "$driver" = server ] && [ "$input" = corpus ]; then continue; fi
        row="| $driver | $input |"
        for feed in whole 1500 64; do
            out=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null \
                --collect-atstart=no --toggle-collect='hostile_profile::measured' \
                "$bin" "$driver" "$input" "$feed" 2>&1)
            bytes=$(echo "$out" | awk -v d="$driver" '$1 == d { print $4 }')
            ir=$(echo "$out" | awk '/Collected :/ { print $4 }')
            per=$(awk -v i="$ir" -v b="$bytes" 'BEGIN { printf "%.1f", i / b }')
            if [ "$input" = plain-b ]; then eval "base_$feed=$per"; fi
            base=$(eval echo "\$base_$feed")
            ratio=$(awk -v p="$per" -v b="$base" 'BEGIN { printf "%.1f", p / b }')
            [ "$feed" = whole ] && row="$row $bytes |"
            row="$row $per | $ratio |"
        done
        echo "$row"
    done
done
