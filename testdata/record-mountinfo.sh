#!/bin/bash
# Records testdata/mountinfo/stale-snapfs in the test VM: /proc/self/mountinfo
# while a snapfs killed with SIGKILL has left its mount behind on a mount
# point whose name has a space. Run from the top of the checkout, after
# "make build":
#
#     e2e/vm/run --rw "$PWD/testdata" -- bash testdata/record-mountinfo.sh
set -euo pipefail
snapfs=${SNAPFS_BIN:-$PWD/bin/snapfs}
mnt="/tmp/stale test/mnt"
mkdir -p "$mnt"
printf 'vgs = ["none"]\n' >/tmp/snapfs.toml
"$snapfs" -config /tmp/snapfs.toml "$mnt" 2>/tmp/snapfs.log &
pid=$!
# Killed while the kernel waits for its answer to its own first request
# (go-fuse's check that the mount serves), it could not exit: wait until
# it serves.
for _ in $(seq 100); do
	grep -q 'msg=serving' /tmp/snapfs.log && break
	sleep 0.1
done
kill -KILL "$pid"
wait "$pid" || true
# ls, not stat: the kernel may answer stat from its cache.
if ls "$mnt" >/dev/null 2>&1; then
	echo "record-mountinfo: the mount is not stale" >&2
	exit 1
fi
cat /proc/self/mountinfo >testdata/mountinfo/stale-snapfs
umount "$mnt"
