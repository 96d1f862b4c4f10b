#!/bin/sh
# The Corral node on a server reached over SSH (corral.control.providers.ssh): this one script
# looks the server over, installs the node, runs and supervises it, and removes it. The SSH
# provider uploads it with the node package; it then stays in the install directory, where
# systemd or its own supervisor runs it.
#
#   sh corral-node.sh probe STAGING                 what the server has (as the login user)
#   sh corral-node.sh install DIR STAGING NODE_ID   venv, node package, env file
#   sh corral-node.sh start DIR                     (re)start the systemd service or supervisor
#   sh corral-node.sh run DIR                       the node daemon, once (what the service runs)
#   sh corral-node.sh supervise DIR                 run, again and again (no systemd)
#   sh corral-node.sh uninstall DIR NODE_ID         stop the node and remove DIR
#
# Secrets (the join token) reach it only in files (node.env, mode 0600), never in arguments.
# Exit status 3: the directory holds another node's install, or something that is not Corral's
# (what it prints says which), and is left alone.
set -eu

SERVICE=corral-node
UNIT=/etc/systemd/system/$SERVICE.service
STOP_TENTHS=150
RESTART_SECONDS=5
JOIN_WAIT_SECONDS=3600

probe() {
    echo "uid=$(id -u)"
    echo "home=$HOME"
    if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        echo "sudo=yes"
    else
        echo "sudo=no"
    fi
    if [ -d /run/systemd/system ]; then echo "systemd=yes"; else echo "systemd=no"; fi
    if ! command -v python3 >/dev/null 2>&1; then
        echo "python=missing"
        return 0
    fi
    echo "python=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' || echo unknown)"
    if python3 -c 'import ensurepip, venv' 2>/dev/null; then echo "venv=yes"; else echo "venv=no"; fi
    # The session's environment, for the control plane to pick the network variables from:
    # into a file of the private staging directory, not the output that errors quote.
    python3 -c 'import json, os, sys; json.dump(dict(os.environ), open(sys.argv[1], "w"))' \
        "$1/environ.json"
}

# Refuse a directory that holds another node's install.
check_node() {
    if [ -s "$1/node-id" ] && [ "$(cat "$1/node-id")" != "$2" ]; then
        echo "other-node=$(cat "$1/node-id")"
        exit 3
    fi
}

pip_install() {
    python=$1/venv/bin/python
    shift
    "$python" -m pip --disable-pip-version-check --no-input --quiet install "$@"
}

install() {
    dir=$1 staging=$2 node=$3
    check_node "$dir" "$node"
    umask 022
    mkdir -p "$dir"
    # First, so that `uninstall` knows a half-made install for its own.
    echo "$node" >"$dir/node-id"
    # Proxies and trust stores for pip: sudo does not pass the login session's on.
    set -a
    . "$staging/network.env"
    set +a
    [ -x "$dir/venv/bin/python" ] || python3 -m venv "$dir/venv"
    # The dependencies as the server's own package index has them, then Corral itself again
    # even at the same version (a development build changes without a new version).
    pip_install "$dir" "$staging"/corral-*.whl
    pip_install "$dir" --no-deps --force-reinstall "$staging"/corral-*.whl
    cp "$staging/corral-node.sh" "$dir/corral-node.sh.tmp"
    mv "$dir/corral-node.sh.tmp" "$dir/corral-node.sh"
    if [ -f "$staging/control-ca.pem" ]; then cp "$staging/control-ca.pem" "$dir/control-ca.pem"; fi
    (
        umask 077
        cp "$staging/node.env" "$dir/node.env.tmp"
        mv "$dir/node.env.tmp" "$dir/node.env"
    )
}

forget_token() {
    env_file=$1/node.env
    grep -q '^CORRAL_NODE_JOIN_TOKEN=' "$env_file" || return 0
    (
        umask 077
        grep -v '^CORRAL_NODE_JOIN_TOKEN=' "$env_file" >"$env_file.tmp" || true
        mv "$env_file.tmp" "$env_file"
    )
}

run() {
    dir=$1
    set -a
    . "$dir/node.env"
    set +a
    # systemd gives a system service no HOME; git and npm want one.
    [ -n "${HOME:-}" ] || HOME=$(getent passwd "$(id -u)" | cut -d: -f6)
    export HOME
    identity=$CORRAL_NODE_DATA_DIR/node.json
    set -- "$dir/venv/bin/python" -m corral.node run --replace --data-dir "$CORRAL_NODE_DATA_DIR"
    if [ -s "$identity" ]; then
        # Joined already: the token is spent.
        unset CORRAL_NODE_JOIN_TOKEN
        forget_token "$dir"
        exec "$@"
    fi
    "$@" &
    daemon=$!
    # Forget the token as soon as the node has traded it for its credential.
    waited=0
    while [ "$waited" -lt "$JOIN_WAIT_SECONDS" ] && running "$daemon"; do
        if [ -s "$identity" ]; then
            forget_token "$dir"
            break
        fi
        sleep 1
        waited=$((waited + 1))
    done
    wait "$daemon"
}

supervise() {
    dir=$1
    echo $$ >"$dir/supervisor.pid"
    while :; do
        sh "$dir/corral-node.sh" run "$dir" </dev/null || true
        echo "corral-node: the node daemon exited; starting it again in $RESTART_SECONDS s"
        sleep "$RESTART_SECONDS"
    done
}

# Whether process $1 is the supervisor of install $2 (a PID can be reused).
is_supervisor() {
    tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline" | grep -qF "corral-node.sh supervise $2"
}

# Whether process $1 runs: it exists and is no zombie (an orphan's is reaped only by an init).
running() {
    read -r line 2>/dev/null <"/proc/$1/stat" || return 1
    # shellcheck disable=SC2086  # the fields after the command name: state ppid pgrp ...
    set -- ${line##*) }
    [ "$1" != Z ]
}

# Whether a process of group $1 runs.
group_running() {
    for stat in /proc/[0-9]*/stat; do
        read -r line 2>/dev/null <"$stat" || continue
        # shellcheck disable=SC2086
        set -- "$1" ${line##*) }
        if [ "$2" != Z ] && [ "$4" = "$1" ]; then return 0; fi
    done
    return 1
}

# Stop the supervisor and everything in its process group (the daemon with it), by its PID.
stop_supervisor() {
    dir=$1
    [ -s "$dir/supervisor.pid" ] || return 0
    pid=$(cat "$dir/supervisor.pid")
    if is_supervisor "$pid" "$dir"; then
        kill -s TERM -- "-$pid" 2>/dev/null || true
        tenths=0
        while group_running "$pid" && [ "$tenths" -lt "$STOP_TENTHS" ]; do
            sleep 0.1
            tenths=$((tenths + 1))
        done
        kill -s KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$dir/supervisor.pid"
}

start() {
    dir=$1
    if [ -d /run/systemd/system ] && [ "$(id -u)" = 0 ]; then
        stop_supervisor "$dir"
        umask 022
        cat >"$UNIT.tmp" <<EOF
[Unit]
Description=Corral node daemon
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/bin/sh "$dir/corral-node.sh" run "$dir"
Restart=always
RestartSec=$RESTART_SECONDS

[Install]
WantedBy=multi-user.target
EOF
        mv "$UNIT.tmp" "$UNIT"
        systemctl daemon-reload
        systemctl enable --quiet "$SERVICE"
        systemctl restart "$SERVICE"
        echo "service=systemd"
        return 0
    fi
    stop_supervisor "$dir"
    cd /
    setsid nohup sh "$dir/corral-node.sh" supervise "$dir" </dev/null >>"$dir/node.log" 2>&1 &
    tenths=0
    while [ ! -s "$dir/supervisor.pid" ] && [ "$tenths" -lt "$STOP_TENTHS" ]; do
        sleep 0.1
        tenths=$((tenths + 1))
    done
    echo "service=supervised"
    echo "pid=$(cat "$dir/supervisor.pid")"
}

uninstall() {
    dir=$1 node=$2
    [ -e "$dir" ] || return 0
    check_node "$dir" "$node"
    if [ ! -s "$dir/node-id" ] || [ "$dir" = / ]; then
        echo "not-corral=$dir"
        exit 3
    fi
    if [ -f "$UNIT" ] && grep -qF "$dir/corral-node.sh" "$UNIT"; then
        systemctl disable --now --quiet "$SERVICE" 2>/dev/null || true
        rm -f "$UNIT"
        systemctl daemon-reload 2>/dev/null || true
    fi
    stop_supervisor "$dir"
    # What outlived the daemon (its PTY host, when the daemon was killed) names the data dir.
    for proc in /proc/[0-9]*; do
        if tr '\0' ' ' 2>/dev/null <"$proc/cmdline" | grep -F -- "--data-dir $dir/data" |
            grep -qF "corral.node"; then
            kill -s KILL "${proc#/proc/}" 2>/dev/null || true
        fi
    done
    rm -rf "$dir"
}

command=$1
shift
case $command in
probe) probe "$@" ;;
install) install "$@" ;;
start) start "$@" ;;
run) run "$@" ;;
supervise) supervise "$@" ;;
uninstall) uninstall "$@" ;;
*)
    echo "unknown command: $command" >&2
    exit 2
    ;;
esac
