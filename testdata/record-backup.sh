#!/bin/bash
# Records testdata/backup/: the metadata backups LVM writes after each
# change to a VG, for the tests of lvm.ParseBackup and of how snapfs brings
# its model up to date from them. It runs as root inside the test VM:
#
#   e2e/vm/run --rw "$PWD/testdata" -- bash testdata/record-backup.sh
#
# For each step N-WHAT: N-WHAT.vg the backup after it, N-WHAT.seqno what
# vgs says of vg_seqno at the same moment, N-WHAT.dm the names in
# /dev/mapper.
set -euo pipefail
export LC_ALL=C LVM_SUPPRESS_FD_WARNINGS=1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
out=$here/backup
work=$(mktemp -d /tmp/record-backup.XXXXXX)
export LVM_SYSTEM_DIR=$work/etc
mkdir -p "$LVM_SYSTEM_DIR"
cp /etc/lvm/lvm.conf "$LVM_SYSTEM_DIR/lvm.conf"
cleanup() {
	set +e
	vgchange -an --quiet vg >/dev/null 2>&1
	losetup -D
	rm -rf "$work"
}
trap cleanup EXIT
truncate -s 256M "$work/pv.img"
loop=$(losetup -f --show "$work/pv.img")
pvcreate --quiet "$loop" >/dev/null
vgcreate --quiet vg "$loop" >/dev/null
rm -rf "$out"
mkdir -p "$out"
step() {
	local name=$1
	shift
	"$@" >/dev/null
	cp "$LVM_SYSTEM_DIR/backup/vg" "$out/$name.vg"
	vgs --noheadings -o vg_seqno vg | tr -d ' ' >"$out/$name.seqno"
	ls /dev/mapper | grep -v '^control$' >"$out/$name.dm" || true
}
step 1-origin lvcreate --quiet --size 8M --name o vg
step 2-snapshot lvcreate --quiet --snapshot --size 4M --name s1 vg/o
step 3-second-snapshot lvcreate --quiet --snapshot --size 4M --name s-2 vg/o
step 4-removed lvremove --quiet --yes vg/s1
step 5-renamed lvrename --quiet vg s-2 s3
step 6-extended lvextend --quiet --size +4M vg/s3
step 7-tagged lvchange --quiet --addtag t vg/o
step 8-deactivated lvchange --quiet -an vg/o
echo "record-backup: recorded into $out" >&2
