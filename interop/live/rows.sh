# shellcheck shell=bash
# The live conformance rows (issue 20), sourced by interop/run: `xmpp-conformance live MODE`
# plays the peer of each vector against another implementation, and writes a Markdown
# section; live_write_report puts the sections together as vectors/LIVE.md. A third-party
# implementation failing vectors is a finding (listed in LIVE.md), not a failed row; a row
# fails only when the runner breaks (an exit status other than 0 and 1, or no report) or our
# own example fails a vector, which it passes in process. See interop/README.md, "Live
# conformance".
#
# Uses from interop/run: row, fail, say, start_bg, BG_PID, wait_exit, wait_port,
# wait_listening, alive, stop_pid, require_free, $BIN, $ROOT, $HERE, $LOGS, $T, $CA,
# $PASSWORD, $SECRET, $VENV, $ROWNO, $BUILD_OK.

CONFORMANCE=$BIN/xmpp-conformance
LIVE_TIMEOUT=${INTEROP_LIVE_TIMEOUT:-240}       # seconds for one live run (149 vectors)
LIVE_STEP_MS=${INTEROP_LIVE_STEP_MS:-1500}      # the runner's wait for one step
LIVE_SECTIONS=()                                # report files, in LIVE.md's order
LIVE_COMPONENT_SECTIONS=()                      # the peers' component-server sections, kept
                                                # for the component part of LIVE.md
LIVE_S2S_SECTIONS=()                            # the peers' s2s-in sections, likewise
LIVE_ROWS=0                                     # sections expected (rows and heads)
LIVE_OURS_TLS_PORT=5227                         # our server with STARTTLS
LIVE_OURS_PLAIN_PORT=5228                       # our server without TLS
LIVE_CLIENT_PORT=5229                           # the runner as the server of a client under test
LIVE_COMPONENT_PORT=5233                        # the runner as the server of a component under test
LIVE_OURS_S2S_PORT=5234                         # our s2s example with STARTTLS required
LIVE_OURS_S2S_PLAIN_PORT=5235                   # our s2s example without TLS

live_build() {
    say "building xmpp-conformance (the live rows)"
    cargo build --release -p xmpp-conformance || say "BUILD FAILED: the live rows will fail"
}

# OUT RC OURS(0|1) WHAT: the verdict on one run of the runner, whose report is OUT.
live_verdict() {
    local out=$1 rc=$2 ours=$3 what=$4
    cat "$out"
    echo "exit $rc"
    [ -s "$out" ] || fail "the runner wrote no report" || return 1
    case $rc in
    0) ;;
    1) [ "$ours" = 0 ] || fail "our own $what failed a vector that it passes in process" || return 1 ;;
    *) fail "the runner broke (exit $rc)" || return 1 ;;
    esac
}

# MODE SECTIONS NAME SITE PORT OURS(0|1) [RUNNER ARGS...]: the runner connects to PORT, for
# MODE `server` (vectors/server), `component-server` (vectors/component) or `s2s-in`
# (vectors/s2s-in), and the section goes to the array named SECTIONS.
row_live_connect() {
    local mode=$1 name=$3 site=$HERE/live/$4 port=$5 ours=$6 out=$LOGS/live.$ROWNO.md rc dir
    local -n sections=$2
    shift 6
    case $mode in
    server) dir=$ROOT/vectors/server ;;
    s2s-in) dir=$ROOT/vectors/s2s-in ;;
    *) dir=$ROOT/vectors/component ;;
    esac
    LIVE_ROWS=$((LIVE_ROWS + 1))
    [ -x "$CONFORMANCE" ] || fail "no $CONFORMANCE" || return 1
    echo "\$ xmpp-conformance live $mode --connect 127.0.0.1:$port --site $site $* ${dir#"$ROOT/"}"
    timeout -k 2 "$LIVE_TIMEOUT" "$CONFORMANCE" live "$mode" --connect "127.0.0.1:$port" \
        --site "$site" --timeout-ms "$LIVE_STEP_MS" --format markdown --name "$name" \
        --findings "$ROOT/interop/live/findings.toml" "$@" "$dir" >"$out"
    rc=$?
    live_verdict "$out" "$rc" "$ours" "$mode" || return 1
    sections+=("$out")
}

# MODE PORT SITE NAME OURS(0|1) RUNNER_ARGS -- PEER_CMD...: the runner listens on PORT and
# plays the server side of every vector of MODE (`client`: vectors/client, `component`:
# vectors/component) that can run; the implementation under test connects once per vector,
# so PEER_CMD is started again and again while the runner lives.
row_live_listen() {
    local mode=$1 port=$2 site=$HERE/live/$3 name=$4 ours=$5 out=$LOGS/live.$ROWNO.md rpid rc
    local args=()
    shift 5
    while [ "$1" != -- ]; do args+=("$1"); shift; done
    shift
    LIVE_ROWS=$((LIVE_ROWS + 1))
    [ -x "$CONFORMANCE" ] || fail "no $CONFORMANCE" || return 1
    require_free "$port"
    echo "\$ xmpp-conformance live $mode --listen 127.0.0.1:$port --site $site ${args[*]} vectors/$mode (background)"
    start_bg "$out" timeout -k 2 "$LIVE_TIMEOUT" "$CONFORMANCE" live "$mode" \
        --listen "127.0.0.1:$port" --site "$site" "${args[@]}" --timeout-ms "$LIVE_STEP_MS" \
        --accept-timeout-ms 5000 --format markdown --name "$name" \
        --findings "$ROOT/interop/live/findings.toml" "$ROOT/vectors/$mode"
    rpid=$BG_PID
    # Not wait_port: the runner takes every connection as a vector's peer, a probe included.
    wait_listening "$port" 10 "$rpid" || true
    echo "\$ $* (again and again while the runner waits)"
    while alive "$rpid"; do timeout -k 1 8 "$@" >/dev/null 2>&1; done
    wait_exit "$rpid" 5
    rc=$?
    live_verdict "$out" "$rc" "$ours" "$mode" || return 1
    LIVE_SECTIONS+=("$out")
}

# PEER SERVER_SITE COMPONENT_SITE [S2S_SITE]: a running peer server's c2s port (5222, the
# test CA), its XEP-0114 port (5347, the component echo.localhost) and its s2s port (5269,
# the runner as ours.localhost on $S2S_PORT). Call it after the peer's own component and s2s
# rows: the peer takes one connection per component domain.
live_peer_rows() {
    row "live conformance: server vectors (xmpp-conformance live server)" "$1" \
        row_live_connect server LIVE_SECTIONS "$1" "$2" 5222 0 --ca "$CA"
    row "live conformance: component-server vectors (xmpp-conformance live component-server)" "$1" \
        row_live_connect component-server LIVE_COMPONENT_SECTIONS "$1 (XEP-0114 port)" "$3" 5347 0
    [ -n "${4:-}" ] || return 0
    require_free "$S2S_PORT"
    live_s2s_args
    row "live conformance: s2s-in vectors (xmpp-conformance live s2s-in)" "$1" \
        row_live_connect s2s-in LIVE_S2S_SECTIONS "$1 (s2s port)" "$4" 5269 0 \
        "${LIVE_S2S_ARGS[@]}"
    # The trigger: alice, on the peer's c2s port, sends a message to ours.localhost, a second
    # after the last vector (a peer may bounce what is routed to a domain whose last stream
    # failed for a while: ejabberd.yml.in's s2s_max_retry_delay).
    row "live conformance: s2s-out vectors (xmpp-conformance live s2s-out)" "$1" \
        row_live_s2s_out LIVE_S2S_SECTIONS "$1 (outgoing s2s)" "$4" 0 \
        "sleep 1; exec $BIN/client --addr 127.0.0.1:5222 --jid alice@localhost --password $PASSWORD \
--tls required --ca $CA --resource live-trigger --to probe@$S2S_DOMAIN \
--message live-s2s-out-trigger --timeout-secs 5" --cert "$T/cert.pem" --key "$T/key.pem"
}

# SECTIONS NAME SITE OURS(0|1) TRIGGER [RUNNER ARGS...]: the runner listens on $S2S_PORT as
# ours.localhost and plays the receiving server of every `s2s-out` vector; per vector it runs
# TRIGGER, which makes the server under test send a message there (vectors/s2s-out).
row_live_s2s_out() {
    local name=$2 site=$HERE/live/$3 ours=$4 trigger=$5 out=$LOGS/live.$ROWNO.md rc
    local -n sections=$1
    shift 5
    LIVE_ROWS=$((LIVE_ROWS + 1))
    [ -x "$CONFORMANCE" ] || fail "no $CONFORMANCE" || return 1
    require_free "$S2S_PORT"
    echo "\$ xmpp-conformance live s2s-out --listen 127.0.0.1:$S2S_PORT --site $site --trigger '$trigger' $* vectors/s2s-out"
    timeout -k 2 "$LIVE_TIMEOUT" "$CONFORMANCE" live s2s-out --listen "127.0.0.1:$S2S_PORT" \
        --site "$site" --trigger "$trigger" --timeout-ms "$LIVE_STEP_MS" --format markdown \
        --name "$name" --findings "$ROOT/interop/live/findings.toml" "$@" \
        "$ROOT/vectors/s2s-out" >"$out"
    rc=$?
    live_verdict "$out" "$rc" "$ours" "s2s-out" || return 1
    sections+=("$out")
}

# The runner as ours.localhost: where the server under test reaches that domain (our s2s
# example's port in the other rows), with the test certificate for STARTTLS there; the
# server's own certificate checked against the test CA.
LIVE_S2S_ARGS=()
live_s2s_args() {
    LIVE_S2S_ARGS=(--listen "127.0.0.1:$S2S_PORT" --cert "$T/cert.pem" --key "$T/key.pem" --ca "$CA")
}

live_ours_run() { # our server example twice: STARTTLS required, and no TLS with PLAIN
    local pid ppid log=$LOGS/server-live.out name="live conformance: server vectors (xmpp-conformance live server)"
    if [ "$BUILD_OK" != 1 ]; then
        row "$name" "our server" true
        return
    fi
    require_free "$LIVE_OURS_TLS_PORT" "$LIVE_OURS_PLAIN_PORT"
    say "our server (live rows): starting on 127.0.0.1:$LIVE_OURS_TLS_PORT and :$LIVE_OURS_PLAIN_PORT"
    start_bg "$log" "$BIN/server" --listen "127.0.0.1:$LIVE_OURS_TLS_PORT" --domain localhost \
        --cert "$T/cert.pem" --key "$T/key.pem" --user "alice:$PASSWORD" --user "bob:$PASSWORD"
    pid=$BG_PID
    start_bg "$log.plain" "$BIN/server" --listen "127.0.0.1:$LIVE_OURS_PLAIN_PORT" --domain localhost \
        --tls disabled --allow-plain --user "alice:$PASSWORD" --user "bob:$PASSWORD"
    ppid=$BG_PID
    if ! wait_port "$LIVE_OURS_TLS_PORT" 10 "$pid" || ! wait_port "$LIVE_OURS_PLAIN_PORT" 10 "$ppid"; then
        row "$name" "our server" fail "server did not listen for the live rows: $(tail -n 5 "$log" "$log.plain")"
    else
        row "$name" "our server (STARTTLS)" row_live_connect server LIVE_SECTIONS \
            "our server example (STARTTLS required)" ours.toml "$LIVE_OURS_TLS_PORT" 1 --ca "$CA"
        row "$name" "our server (no TLS)" row_live_connect server LIVE_SECTIONS \
            "our server example (no TLS, PLAIN allowed)" ours-plain.toml "$LIVE_OURS_PLAIN_PORT" 1 --tls none
    fi
    stop_pid "$pid"
    stop_pid "$ppid"
}

live_client_rows() { # our client example and slixmpp as clients under test
    local name="live conformance: client vectors (xmpp-conformance live client)"
    local tls=(--cert "$T/cert.pem" --key "$T/key.pem")
    LIVE_SECTIONS+=("$HERE/live/LIVE.md.client-head")
    LIVE_ROWS=$((LIVE_ROWS + 1))
    row "$name" "our client" row_live_listen client "$LIVE_CLIENT_PORT" client.toml \
        "our client example" 1 "${tls[@]}" -- \
        "$BIN/client" --addr "127.0.0.1:$LIVE_CLIENT_PORT" --jid alice@localhost \
        --password "$PASSWORD" --tls required --ca "$CA" --mechanisms PLAIN --resource interop \
        --count 100 --timeout-secs 6
    row "$name" "slixmpp" row_live_listen client "$LIVE_CLIENT_PORT" client.toml \
        "slixmpp $("$VENV/bin/python" -c 'import slixmpp; print(slixmpp.__version__)')" 0 "${tls[@]}" -- \
        "$VENV/bin/python" "$HERE/live/slix_login.py" --port "$LIVE_CLIENT_PORT" --ca "$CA" \
        --jid alice@localhost --password "$PASSWORD" --resource interop --mech PLAIN --timeout 6
}

live_component_rows() { # the component part of LIVE.md: the peers' sections, then ours
    LIVE_SECTIONS+=("$HERE/live/LIVE.md.component-head")
    LIVE_ROWS=$((LIVE_ROWS + 1))
    LIVE_SECTIONS+=("${LIVE_COMPONENT_SECTIONS[@]}")
    row "live conformance: component vectors (xmpp-conformance live component)" "our component" \
        row_live_listen component "$LIVE_COMPONENT_PORT" ours-component.toml \
        "our component example" 1 -- \
        "$BIN/component" --addr "127.0.0.1:$LIVE_COMPONENT_PORT" --domain echo.localhost \
        --secret "$SECRET" --count 1 --timeout-secs 6
}

live_s2s_rows() { # the s2s part of LIVE.md: the peers' sections, then our s2s example
    local pid ppid log=$LOGS/s2s-live.out name="live conformance: s2s-in vectors (xmpp-conformance live s2s-in)"
    LIVE_SECTIONS+=("$HERE/live/LIVE.md.s2s-head")
    LIVE_ROWS=$((LIVE_ROWS + 1))
    LIVE_SECTIONS+=("${LIVE_S2S_SECTIONS[@]}")
    if [ "$BUILD_OK" != 1 ]; then
        row "$name" "our s2s example" true
        return
    fi
    require_free "$LIVE_OURS_S2S_PORT" "$LIVE_OURS_S2S_PLAIN_PORT" "$S2S_PORT"
    say "our s2s example (live rows): starting on 127.0.0.1:$LIVE_OURS_S2S_PORT and :$LIVE_OURS_S2S_PLAIN_PORT"
    start_bg "$log" "$BIN/s2s" --listen "127.0.0.1:$LIVE_OURS_S2S_PORT" --domain localhost \
        --cert "$T/cert.pem" --key "$T/key.pem" --route "$S2S_DOMAIN=127.0.0.1:$S2S_PORT"
    pid=$BG_PID
    start_bg "$log.plain" "$BIN/s2s" --listen "127.0.0.1:$LIVE_OURS_S2S_PLAIN_PORT" --domain localhost \
        --tls disabled --route "$S2S_DOMAIN=127.0.0.1:$S2S_PORT"
    ppid=$BG_PID
    if ! wait_line "$log" '^listening' 10 "$pid" || ! wait_line "$log.plain" '^listening' 10 "$ppid"; then
        row "$name" "our s2s example" fail "our s2s example did not listen for the live rows: $(tail -n 5 "$log" "$log.plain")"
    else
        live_s2s_args
        row "$name" "our s2s example (STARTTLS)" row_live_connect s2s-in LIVE_SECTIONS \
            "our s2s example (STARTTLS required)" ours-s2s.toml "$LIVE_OURS_S2S_PORT" 1 "${LIVE_S2S_ARGS[@]}"
        row "$name" "our s2s example (no TLS)" row_live_connect s2s-in LIVE_SECTIONS \
            "our s2s example (no TLS)" ours-s2s-plain.toml "$LIVE_OURS_S2S_PLAIN_PORT" 1 \
            --listen "127.0.0.1:$S2S_PORT" --tls none
    fi
    stop_pid "$pid"
    stop_pid "$ppid"
    # Outgoing: each vector starts our s2s example afresh, sending one message to
    # ours.localhost (the runner) and keeping the stream open a while after it (as a server
    # keeps an idle s2s stream), so that what the vector's peer sends then is answered.
    local send="exec $BIN/s2s --listen 127.0.0.1:0 --domain localhost --route $S2S_DOMAIN=127.0.0.1:$S2S_PORT \
--from bob --to alice@$S2S_DOMAIN --message live-s2s-out-trigger --hold-secs 3 --timeout-secs 8"
    name="live conformance: s2s-out vectors (xmpp-conformance live s2s-out)"
    row "$name" "our s2s example (STARTTLS)" row_live_s2s_out LIVE_SECTIONS \
        "our s2s example, outgoing (STARTTLS required)" ours-s2s.toml 1 \
        "$send --cert $T/cert.pem --key $T/key.pem" --cert "$T/cert.pem" --key "$T/key.pem"
    row "$name" "our s2s example (no TLS)" row_live_s2s_out LIVE_SECTIONS \
        "our s2s example, outgoing (no TLS)" ours-s2s-plain.toml 1 "$send --tls disabled" --tls none
}

live_write_report() { # vectors/LIVE.md from the sections, when every live row wrote one
    local out=$ROOT/vectors/LIVE.md new=$T/LIVE.md
    if [ "${#LIVE_SECTIONS[@]}" != "$LIVE_ROWS" ] || [ "$LIVE_ROWS" = 0 ]; then
        say "vectors/LIVE.md left as it was: ${#LIVE_SECTIONS[@]} of $LIVE_ROWS live sections written"
        return 0
    fi
    {
        cat "$HERE/live/LIVE.md.head"
        cat "${LIVE_SECTIONS[@]}"
    } >"$new"
    if cmp -s "$new" "$out"; then
        say "vectors/LIVE.md unchanged"
    else
        cp "$new" "$out" && say "vectors/LIVE.md rewritten (commit it)"
    fi
}
