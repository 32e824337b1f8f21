#!/bin/bash
# Records the start of a real PV, label, PV header and metadata area, for
# the tests of lvm.MetadataSeqno: testdata/pvheader/NAME.img (the first
# 16 KiB of the device) and NAME.seqno ("VG SEQNO" as vgs said it). It needs
# a loop device but no device-mapper (no LV is made), so it runs on the
# development machine as root, or in the test VM:
#
#   bash testdata/record-pvheader.sh
set -euo pipefail
export LC_ALL=C LVM_SUPPRESS_FD_WARNINGS=1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
out=$here/pvheader
work=$(mktemp -d)
loop=
cleanup() {
	vgremove -qq -f rec_pvh >/dev/null 2>&1 || true
	[ -z "$loop" ] || losetup -d "$loop"
	rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$out"

truncate -s 64M "$work/pv.img"
loop=$(losetup -f --show "$work/pv.img")
# LVM must look at this loop device only.
filter="devices { filter = [ \"a|^$loop\$|\", \"r|.*|\" ] use_devicesfile = 0 }"
lvm() { command lvm "$1" --config "$filter" "${@:2}"; }

record() {
	local name=$1
	head -c 16384 "$loop" >"$out/$name.img"
	lvm vgs --noheadings -o vg_name,vg_seqno rec_pvh | awk '{ print $1, $2 }' >"$out/$name.seqno"
}

lvm pvcreate -qq "$loop"
lvm vgcreate -qq rec_pvh "$loop"
record created
# Each change writes the metadata anew, after the last copy in the area.
for tag in one two three four five; do
	lvm vgchange -qq --addtag "$tag" rec_pvh
done
record changed
lvm version 2>/dev/null | head -1 >"$out/VERSION"
echo "recorded in $out" >&2
