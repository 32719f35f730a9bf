#!/usr/bin/env bash
# A daemon that cannot start says why, and exits 1 (issue 13): a broker or
# a node on a journal another process has open for writing, and on an
# address another process has bound, each ends with "did not start:" and
# the cause's text (what to do), after the line naming the journal or the
# address.
source "$(dirname "$0")/lib.sh"

start_sitrep_scene
PORT=${EP##*:}
BUSY='did not start: resource busy: in use by another process'

# The running broker holds its journal: a second broker on it is refused
# before it binds anything (its own listen address is free).
check "a second broker on a journal in use exits 1" exits 1 "$T/b2.out" \
    "$BROKER" --id kcr2-broker-1 --listen "tcp://127.0.0.1:$(free_port)" \
    --data "$T/kcr2-broker-1" --key "$T/keys/kcr2-broker-1.key" --trust "$T/trust" \
    --policy "$T/policy" --api "ipc://$T/b2-api.sock"
check "... naming the journal" grep -q "journal $T/kcr2-broker-1: already open for writing" \
    "$T/b2.out"
check "... and the cause, last" bash -c "tail -n 1 '$T/b2.out' | grep -q 'knoop-broker $BUSY'"

# Another process (not a daemon) holding the journal's lock: the same.
mkdir -p "$T/held"
(exec 9>"$T/held/writer.lock"; flock 9; exec sleep 60) >/dev/null 2>&1 &
PIDS+=($!)
wait_for "the lock is held" 5 bash -c "! flock -n '$T/held/writer.lock' true"
check "a node on a journal locked by another process exits 1" exits 1 "$T/n2.out" \
    "$NODE" --id vr-utrecht --data "$T/held" --key "$T/keys/vr-utrecht.key" --trust "$T/trust" \
    --broker "$B"
check "... naming the journal" grep -q "journal $T/held: already open for writing" "$T/n2.out"
check "... and the cause, last" bash -c "tail -n 1 '$T/n2.out' | grep -q 'knoop-node $BUSY'"
check "... and it left no API socket" [ ! -e "$T/held/api.sock" ]

# The broker's listen address is in use (by the running broker): a broker
# with a journal of its own is refused at its bind.
check "a broker on a listen address in use exits 1" exits 1 "$T/b3.out" \
    "$BROKER" --id kcr2-broker-1 --listen "tcp://127.0.0.1:$PORT" --data "$T/b3" \
    --key "$T/keys/kcr2-broker-1.key" --trust "$T/trust" --policy "$T/policy"
check "... naming the address" grep -q "cannot listen on tcp://127.0.0.1:$PORT: Address already in use" \
    "$T/b3.out"
check "... and the cause, last" bash -c "tail -n 1 '$T/b3.out' | grep -q 'knoop-broker $BUSY'"

# A node whose API address is in use (the broker's port).
check "a node on an API address in use exits 1" exits 1 "$T/n3.out" \
    "$NODE" --id vr-utrecht --data "$T/n3" --key "$T/keys/vr-utrecht.key" --trust "$T/trust" \
    --broker "$B" --api "tcp://127.0.0.1:$PORT"
check "... naming the address" \
    grep -q "cannot bind the local API on tcp://127.0.0.1:$PORT: Address already in use" "$T/n3.out"
check "... and the cause, last" bash -c "tail -n 1 '$T/n3.out' | grep -q 'knoop-node $BUSY'"

# Any other cause is named too: a key file that is not there.
check "a node without its key file exits 1" exits 1 "$T/n4.out" \
    "$NODE" --id vr-utrecht --data "$T/n4" --key "$T/keys/missing.key" --trust "$T/trust" \
    --broker "$B"
check "... naming the cause, last" \
    bash -c "tail -n 1 '$T/n4.out' | grep -q 'knoop-node did not start: not found'"

# The daemons that held the journals and the address still run.
check "the broker still runs" kill -0 "$(pid_of kcr2-broker-1)"
check "the node still runs" kill -0 "$(pid_of vr-utrecht)"
