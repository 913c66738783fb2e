# shellcheck shell=bash
# The live component rows (issue 20), sourced by interop/run after its live section's helpers.
# Uses from interop/run: row, fail, start_bg, BG_PID, wait_exit, alive,
# require_free, $CONFORMANCE, $LOGS, $ROOT, $HERE, $BIN, $SECRET, $ROWNO, $LIVE_TIMEOUT,
# $LIVE_STEP_MS, LIVE_SECTIONS and LIVE_ROWS.
#
# - live_component_peer_rows PEER SITE: `xmpp-conformance live component-server` against the
#   peer's XEP-0114 port (127.0.0.1:5347), the runner playing the component echo.localhost
#   with the interop secret (SITE: prosody-component.toml or ejabberd-component.toml). Call it
#   while the peer runs, after the peer's own component row (the peer takes one connection per
#   component domain).
# - live_component_rows: after live_client_rows, `xmpp-conformance live component` with our
#   component example as the component under test, and the component sections of LIVE.md:
#   the head, the peers' sections collected above, then ours.
#
# As for the other live rows, a third-party server failing vectors is a finding, not a
# failed row; a row fails when the runner breaks (an exit status other than 0 and 1, or no
# report) or our own component fails a vector, which it passes in process.

LIVE_COMPONENT_SECTIONS=()                      # the peers' component-server sections
LIVE_COMPONENT_PORT=5230                        # the runner as the server, for our component

# PORT SECONDS PID: until something listens on 127.0.0.1:PORT (and PID is alive), read from
# /proc/net/tcp. Unlike wait_port it does not connect: the runner would accept that probe as
# the first component under test, which sends nothing, and fail the first vector.
live_wait_listening() {
    local hex n=$(($2 * 10))
    hex=$(printf '0100007F:%04X' "$1")
    while ((n-- > 0)); do
        awk -v a="$hex" '$2 == a && $4 == "0A" { found = 1 } END { exit !found }' /proc/net/tcp &&
            return 0
        alive "$3" || return 1
        sleep 0.1
    done
    return 1
}

row_live_component_server() { # NAME SITE PORT: the runner as the component against PORT
    local name=$1 site=$HERE/live/$2 port=$3 out=$LOGS/live.$ROWNO.md rc
    LIVE_ROWS=$((LIVE_ROWS + 1))
    [ -x "$CONFORMANCE" ] || fail "no $CONFORMANCE" || return 1
    echo "\$ xmpp-conformance live component-server --connect 127.0.0.1:$port --site $site vectors/component"
    timeout -k 2 "$LIVE_TIMEOUT" "$CONFORMANCE" live component-server --connect "127.0.0.1:$port" \
        --site "$site" --timeout-ms "$LIVE_STEP_MS" --format markdown --name "$name" \
        --findings "$ROOT/interop/live/findings.toml" "$ROOT/vectors/component" >"$out"
    rc=$?
    cat "$out"
    echo "exit $rc"
    [ -s "$out" ] || fail "the runner wrote no report" || return 1
    case $rc in
    0 | 1) ;;
    *) fail "the runner broke (exit $rc)" || return 1 ;;
    esac
    LIVE_COMPONENT_SECTIONS+=("$out")
}

live_component_peer_rows() { # PEER SITE: the peer's component port, on 5347
    row "live conformance: component-server vectors (xmpp-conformance live component-server)" "$1" \
        row_live_component_server "$1 (XEP-0114 port)" "$2" 5347
}

# `xmpp-conformance live component`: the runner listens and plays the server side of every
# `component` vector that can run; the component under test connects once per vector, so it
# is started again and again (COMPONENT_CMD...) while the runner lives.
row_live_component() { # NAME OURS(0|1) COMPONENT_CMD...
    local name=$1 ours=$2 out=$LOGS/live.$ROWNO.md rpid rc
    shift 2
    LIVE_ROWS=$((LIVE_ROWS + 1))
    [ -x "$CONFORMANCE" ] || fail "no $CONFORMANCE" || return 1
    require_free "$LIVE_COMPONENT_PORT"
    echo "\$ xmpp-conformance live component --listen 127.0.0.1:$LIVE_COMPONENT_PORT --site ours-component.toml vectors/component (background)"
    start_bg "$out" timeout -k 2 "$LIVE_TIMEOUT" "$CONFORMANCE" live component \
        --listen "127.0.0.1:$LIVE_COMPONENT_PORT" --site "$HERE/live/ours-component.toml" \
        --timeout-ms "$LIVE_STEP_MS" --accept-timeout-ms 5000 \
        --format markdown --name "$name" --findings "$ROOT/interop/live/findings.toml" \
        "$ROOT/vectors/component"
    rpid=$BG_PID
    live_wait_listening "$LIVE_COMPONENT_PORT" 10 "$rpid" || true
    echo "\$ $* (again and again while the runner waits)"
    while alive "$rpid"; do timeout -k 1 8 "$@" >/dev/null 2>&1; done
    wait_exit "$rpid" 5
    rc=$?
    cat "$out"
    echo "exit $rc"
    [ -s "$out" ] || fail "the runner wrote no report" || return 1
    case $rc in
    0) ;;
    1) [ "$ours" = 0 ] || fail "our own component failed a vector that it passes in process" || return 1 ;;
    *) fail "the runner broke (exit $rc)" || return 1 ;;
    esac
    LIVE_SECTIONS+=("$out")
}

live_component_rows() { # the component sections of LIVE.md, and our component under test
    LIVE_SECTIONS+=("$HERE/live/LIVE.md.component-head")
    LIVE_ROWS=$((LIVE_ROWS + 1))
    LIVE_SECTIONS+=("${LIVE_COMPONENT_SECTIONS[@]}")
    row "live conformance: component vectors (xmpp-conformance live component)" "our component" \
        row_live_component "our component example" 1 \
        "$BIN/component" --addr "127.0.0.1:$LIVE_COMPONENT_PORT" --domain echo.localhost \
        --secret "$SECRET" --count 1 --timeout-secs 6
}
