#!/bin/sh
# Runs schemathesis against processd and sandboxd where neither can touch the real machine.
#
# `cargo xtask schemathesis` starts this script as
#   unshare --mount --net --pid --fork --mount-proc --propagation private sh isolated.sh
# so it is PID 1 of a new PID namespace, alone in a new network namespace (only `lo`, no route
# anywhere else) and in a private copy of the mount table. Before any server starts it makes
# every existing mount read-only (bind remounts: only this namespace's view changes), puts
# tmpfs over every path that must stay writable (/tmp, /var/tmp, /run, /dev/shm; HOME is
# a directory in that /tmp), gives /dev a fresh tmpfs with just the usual character devices and a private
# devpts, and write-protects /proc/sys and /proc/sysrq-trigger. The servers then run with a
# capability bounding set without CAP_SYS_ADMIN (they cannot undo any of this), so the `/`
# deletes, chmods and random git URLs the fuzzer sends land in memory or nowhere.
#
# Inputs (environment): ST_PYTHON (the venv's python, with schemathesis), ST_PROCESSD and
# ST_SANDBOXD (the binaries), ST_MAX_EXAMPLES, ST_DOCS (the directory holding processd.json
# and sandboxd.json). Exit status: 0 only when both runs found nothing and both servers
# still answer /health afterwards.
set -eu

fail() {
    echo "isolated.sh: $*" >&2
    exit 1
}

[ "$$" = 1 ] || fail "must run as PID 1 of its own PID namespace (see the header)"
for v in ST_PYTHON ST_PROCESSD ST_SANDBOXD ST_MAX_EXAMPLES ST_DOCS ST_PROCESSD_CONFIG ST_SANDBOXD_CONFIG; do
    eval "[ -n \"\${$v:-}\" ]" || fail "$v is not set"
done

# --- the network: loopback only -------------------------------------------------------------
ip link set lo up
if [ "$(ip -o link show | grep -cv ': lo:')" != 0 ]; then
    fail "the network namespace has interfaces besides lo"
fi

# --- the file systems -----------------------------------------------------------------------
mount --make-rprivate /
# Every mount point, deepest last; remounting the parent first is fine (bind remounts are per
# mount). /proc is this namespace's own proc: it stays, with /proc/sys protected below.
awk '{ print $5 }' /proc/self/mountinfo | sort -u | while read -r mp; do
    case "$mp" in
        /proc | /proc/*) continue ;;
    esac
    mp=$(printf "%b" "$mp")
    mount -o remount,bind,ro "$mp" 2>/dev/null || mount -o remount,bind,ro,nosuid,nodev,noexec "$mp" ||
        fail "cannot make $mp read-only"
done

for dir in /tmp /var/tmp /run; do
    [ -d "$dir" ] || continue
    mount -t tmpfs -o mode=1777,nosuid,nodev,size=512m tmpfs "$dir"
done

# A fresh /dev: the character devices programs expect, bound from the host's, a private
# devpts for the PTY routes. No disks, no /dev/mem.
mkdir /run/isolated-dev
mount -t tmpfs -o mode=0755,nosuid,size=1m tmpfs /run/isolated-dev
for node in null zero full random urandom tty; do
    touch "/run/isolated-dev/$node"
    mount --bind "/dev/$node" "/run/isolated-dev/$node"
done
mkdir /run/isolated-dev/pts /run/isolated-dev/shm
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts /run/isolated-dev/pts
ln -s pts/ptmx /run/isolated-dev/ptmx
ln -s /proc/self/fd /run/isolated-dev/fd
ln -s /proc/self/fd/0 /run/isolated-dev/stdin
ln -s /proc/self/fd/1 /run/isolated-dev/stdout
ln -s /proc/self/fd/2 /run/isolated-dev/stderr
mount --move /run/isolated-dev /dev
mount -t tmpfs -o mode=1777,nosuid,nodev,size=256m tmpfs /dev/shm

mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
[ ! -e /proc/sysrq-trigger ] || mount --bind /dev/null /proc/sysrq-trigger

# Proof, before anything runs: the machine's disk is not writable from here.
if touch /.isolated-probe 2>/dev/null; then
    rm -f /.isolated-probe
    fail "/ is still writable"
fi

# --- the servers ----------------------------------------------------------------------------
# No CAP_SYS_ADMIN (no remounting), no raw devices, modules, clocks or ptrace.
KEEP=+chown,+dac_override,+fowner,+fsetid,+kill,+setgid,+setuid,+setpcap,+net_bind_service,+sys_chroot,+sys_nice,+sys_resource,+audit_write
confined() {
    setpriv --bounding-set -all,"$KEEP" --inh-caps -all -- "$@"
}

TOKEN=schemathesis-token
export HOME=/tmp/st/home
mkdir -p /tmp/st/home /tmp/st/work /tmp/st/state /tmp/st/sandboxd
cd /tmp/st

confined "$ST_PROCESSD" --listen 127.0.0.1:2280 --token "$TOKEN" --log-level warn \
    --workdir /tmp/st/work --state-dir /tmp/st/state >/tmp/st/processd.out 2>&1 &
PROCESSD=$!

SANDBOXD_TEST_UNISOLATED=true SANDBOXD_API_KEY="$TOKEN" \
    confined "$ST_SANDBOXD" --listen 127.0.0.1:2281 --state-dir /tmp/st/sandboxd \
    --image-dir /tmp/st/images --log-level warn --max-sandboxes 8 >/tmp/st/sandboxd.out 2>&1 &
SANDBOXD=$!

# health URL PID NAME: waits (polls, at most ~60 s) for URL to answer 200.
health() {
    "$ST_PYTHON" - "$1" "$TOKEN" <<'PY'
import sys, time, urllib.request
url, token = sys.argv[1], sys.argv[2]
for _ in range(600):
    try:
        req = urllib.request.Request(url, headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, timeout=5) as r:
            if r.status == 200:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.1)
print("no healthy answer from " + url, file=sys.stderr)
sys.exit(1)
PY
}

health http://127.0.0.1:2280/health || { cat /tmp/st/processd.out >&2; fail "processd did not start"; }
health http://127.0.0.1:2281/api/sandbox || { cat /tmp/st/sandboxd.out >&2; fail "sandboxd did not start"; }

# run NAME DOC BASE_URL CONFIG [EXTRA ARGS]: one schemathesis run.
run() {
    name=$1 doc=$2 url=$3 config=$4
    shift 4
    echo "== schemathesis: $name ($doc at $url, $ST_MAX_EXAMPLES examples per operation)"
    "$ST_PYTHON" -m schemathesis.cli --config-file "$config" run "$ST_DOCS/$doc" --url "$url" \
        --header "Authorization: Bearer $TOKEN" \
        --checks not_a_server_error,response_schema_conformance \
        --max-examples "$ST_MAX_EXAMPLES" --seed 1 --no-color \
        "$@"
}

status=0
run processd processd.json http://127.0.0.1:2280 "$ST_PROCESSD_CONFIG" ${ST_PROCESSD_ARGS:-} || status=1
run sandboxd sandboxd.json http://127.0.0.1:2281 "$ST_SANDBOXD_CONFIG" ${ST_SANDBOXD_ARGS:-} || status=1

# Healthy afterwards: both still running and answering.
kill -0 "$PROCESSD" 2>/dev/null || { status=1; echo "processd exited during the run" >&2; }
kill -0 "$SANDBOXD" 2>/dev/null || { status=1; echo "sandboxd exited during the run" >&2; }
health http://127.0.0.1:2280/health || status=1
health http://127.0.0.1:2281/api/sandbox || status=1
if [ "$status" != 0 ]; then
    echo "--- processd log" >&2
    tail -n 50 /tmp/st/processd.out >&2
    echo "--- sandboxd log" >&2
    tail -n 50 /tmp/st/sandboxd.out >&2
fi
exit "$status"
