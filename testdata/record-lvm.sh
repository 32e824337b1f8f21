#!/bin/bash
# Records what real LVM prints, for the tests of the lvm package: JSON
# reports, error messages with their exit codes, and device-mapper status
# lines next to what lvs makes of them. It runs as root inside the test VM,
# which has real device-mapper (see testdata/README):
#
#   e2e/vm/run --rw "$PWD/testdata" -- bash testdata/record-lvm.sh
#
# and replaces testdata/lvm/ as a whole. Everything it makes lives on loop
# files in the VM's /tmp and dies with the VM.
#
# Layout of testdata/lvm/:
#   VERSION                  lvm version and kernel of the recording
#   report/ARGV              the fullreport command line, one argument a line,
#                            without the VG names (lvm.Client.Report must build
#                            exactly this; a test checks)
#   report/NAME.json         its output for one scenario, NAME.vgs the VG names
#                            given, NAME.stderr and NAME.exit when it failed,
#                            NAME.lvs what `lvs -a --nameprefixes` printed just
#                            after, and NAME.dmsetup `dmsetup status` of all
#                            devices
#   errors/NAME.{argv,stdout,stderr,exit}   one failing (or noteworthy) command
#   dm/NAME.status           `dmsetup status DEVICE` of one device, and
#   dm/NAME.lvs              what lvs printed for the same LV at the same
#                            moment (lvs --nameprefixes, sizes in bytes)
set -euo pipefail
export LC_ALL=C LVM_SUPPRESS_FD_WARNINGS=1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
dest=$here/lvm
out=$here/lvm.new
work=$(mktemp -d /tmp/record-lvm.XXXXXX)
rm -rf "$out"
mkdir -p "$out/report" "$out/errors" "$out/dm"

log() { echo "record-lvm: $*" >&2; }

# PVs are device-mapper devices (pv-NAME) on loop files, so that one of them
# can delay its writes (the merging scenario needs a merge slow enough to be
# seen). LVM must then see only those, not the loop devices under them, or
# it finds every PV twice: the VM's lvm.conf is copied with a global filter
# added to its devices section.
export LVM_SYSTEM_DIR=$work/etc
mkdir -p "$LVM_SYSTEM_DIR"
filter='	global_filter = [ "a|^/dev/mapper/pv-|", "r|.*|" ]'
if grep -q '^devices *{' /etc/lvm/lvm.conf 2>/dev/null; then
	sed "/^devices *{/a\\
$filter" /etc/lvm/lvm.conf >"$LVM_SYSTEM_DIR/lvm.conf"
else
	{ cat /etc/lvm/lvm.conf 2>/dev/null || true; printf 'devices {\n%s\n}\n' "$filter"; } >"$LVM_SYSTEM_DIR/lvm.conf"
fi
modprobe dm-delay 2>/dev/null || true

holders=()
mounts=()
cleanup() {
	set +e
	for m in "${mounts[@]}"; do umount "$m"; done
	for h in "${holders[@]}"; do dmsetup remove "$h"; done
	exec 3<&- 4<&- 5<&- 6<&- 7<&-
	vgchange -an --quiet >/dev/null 2>&1
	dmsetup remove_all >/dev/null 2>&1
	losetup -D
	rm -rf "$work"
}
trap cleanup EXIT

# mkpv NAME SIZE_MB WRITE_DELAY_MS: a PV /dev/mapper/pv-NAME on a loop file.
mkpv() {
	local name=$1 size=$2 delay=$3 loop sectors
	truncate -s "${size}M" "$work/$name.img"
	loop=$(losetup -f --show "$work/$name.img")
	sectors=$(blockdev --getsz "$loop")
	if [ "$delay" -gt 0 ]; then
		dmsetup create "pv-$name" --table "0 $sectors delay $loop 0 0 $loop 0 $delay"
	else
		dmsetup create "pv-$name" --table "0 $sectors linear $loop 0"
	fi
	dmsetup mknodes "pv-$name"
	pvcreate --quiet "/dev/mapper/pv-$name" >/dev/null
}

# write LV MB [SEEK_MB]: overwrite MB MiB of the LV, bypassing the page
# cache, so that COW exceptions and thin allocations happen now.
write() {
	dd if=/dev/zero of="/dev/$1" bs=1M count="$2" seek="${3:-0}" oflag=direct status=none
}

# The command lvm.Client.Report runs (lvm/report.go: reportArgs), after the
# binary; keep the two identical.
report_args=(
	fullreport -a
	--reportformat json --units b --nosuffix --binary
	--config 'report { mark_hidden_devices=1 compact_output=0 time_format="%Y-%m-%d %T %z" list_item_separator="," }'
	--configreport vg -o vg_name,vg_uuid,vg_size,vg_free,vg_extent_size,lv_count,snap_count,vg_seqno,vg_lock_type
	--configreport lv -o vg_name,lv_name,lv_uuid,lv_path,lv_dm_path,lv_attr,origin,pool_lv,lv_size,origin_size,snap_percent,data_percent,lv_time,lv_kernel_major,lv_kernel_minor,lv_skip_activation,lv_layout,lv_role,lv_merging,lv_merge_failed,lv_snapshot_invalid,lv_device_open,lv_tags
	--configreport seg -o lv_uuid,seg_start,segtype,chunk_size
	--configreport pv -o pv_uuid,pv_name
	--configreport pvseg -o pvseg_start
)
printf '%s\n' "${report_args[@]}" >"$out/report/ARGV"

# report NAME [VG...]: record the report of the VGs named (all when none).
report() {
	local name=$1 rc=0
	shift
	log "report $name"
	printf '%s\n' "$@" >"$out/report/$name.vgs"
	lvm "${report_args[@]}" "$@" >"$out/report/$name.json" 2>"$out/report/$name.stderr" || rc=$?
	[ -s "$out/report/$name.stderr" ] || rm -f "$out/report/$name.stderr"
	[ "$rc" -eq 0 ] || echo "$rc" >"$out/report/$name.exit"
	lvs -a --noheadings --nameprefixes --units b --nosuffix \
		-o vg_name,lv_name,lv_attr,lv_size,pool_lv,origin,snap_percent,data_percent,lv_role "$@" \
		2>/dev/null | sed 's/^ *//' >"$out/report/$name.lvs" || true
	dmsetup status >"$out/report/$name.dmsetup" 2>&1 || true
}

# run_case NAME CMD...: record a command that fails (or says something
# worth knowing): its argv, output, and exit code.
run_case() {
	local name=$1 rc=0
	shift
	log "case $name: $*"
	printf '%s\n' "$@" >"$out/errors/$name.argv"
	"$@" >"$out/errors/$name.stdout" 2>"$out/errors/$name.stderr" || rc=$?
	[ -s "$out/errors/$name.stdout" ] || rm -f "$out/errors/$name.stdout"
	echo "$rc" >"$out/errors/$name.exit"
}

# dm_case NAME VG LV [DEVICE]: record the status of LV's device (or of
# DEVICE) and, at the same moment, lvs's view of the LV.
dm_case() {
	local name=$1 vg=$2 lv=$3 dev=${4:-}
	[ -n "$dev" ] || dev=$(echo "$vg" | sed 's/-/--/g')-$(echo "$lv" | sed 's/-/--/g')
	sync
	dmsetup status "$dev" >"$out/dm/$name.status"
	lvs -a --noheadings --nameprefixes --units b --nosuffix \
		-o lv_name,lv_attr,lv_size,pool_lv,origin,snap_percent,data_percent "$vg/$lv" |
		sed 's/^ *//' >"$out/dm/$name.lvs"
}

{
	lvm version
	uname -r
} >"$out/VERSION"

mkpv a 1000 0
mkpv b 64 0
vgcreate --quiet vg /dev/mapper/pv-a >/dev/null
vgcreate --quiet --physicalextentsize 1M vg2 /dev/mapper/pv-b >/dev/null

# Classic snapshots: a fresh one (metadata only: 0.00), a used one, and a
# big one with one chunk written, which lvs rounds up to 0.01.
lvcreate --quiet --size 160M --name lv1 vg >/dev/null
lvcreate --quiet --snapshot --size 8M --name snap0 vg/lv1 >/dev/null
dm_case snapshot-fresh vg snap0
lvcreate --quiet --snapshot --size 164M --name bigcow vg/lv1 >/dev/null
dd if=/dev/zero of=/dev/vg/lv1 bs=4k count=1 seek=1000 oflag=direct status=none
dm_case snapshot-tiny vg bigcow
lvcreate --quiet --snapshot --size 8M --name snap1 vg/lv1 >/dev/null
# Two tags, as snapfs sets them, so that the report shows lv_tags.
lvchange --quiet --addtag snapfs_hold --addtag snapfs_expires_1800000000 vg/snap1
write vg/lv1 1 8
dm_case snapshot-used vg snap1
dm_case snapshot-origin vg lv1
report classic vg

# Thin: a pool, a thin volume with data, an empty one, a thin snapshot
# (created inactive with the skip-activation flag), a snapshot of that
# snapshot, then the first snapshot activated with -K and written to.
lvcreate --quiet --size 64M --type thin-pool --name pool vg >/dev/null
lvcreate --quiet --virtualsize 32M --thinpool pool --name thin1 vg >/dev/null
write vg/thin1 3
dm_case thin-used vg thin1
lvcreate --quiet --virtualsize 8M --thinpool pool --name thin2 vg >/dev/null
dm_case thin-empty vg thin2
dm_case thin-pool vg pool vg-pool-tpool
lvcreate --quiet --snapshot --name tsnap1 vg/thin1 >/dev/null
lvcreate --quiet --snapshot --name tsnap2 vg/tsnap1 >/dev/null
report thin-inactive vg
lvchange --quiet --activate y --ignoreactivationskip vg/tsnap1
write vg/tsnap1 1 20
dm_case thin-snapshot vg tsnap1
# A thin volume whose size is not a multiple of its pool's chunk: lvs
# rounds the size up to whole chunks (vg2 has 1 MiB extents, 2 MiB chunks).
lvcreate --quiet --size 16M --type thin-pool --chunksize 2M --name pool2 vg2 >/dev/null
lvcreate --quiet --virtualsize 5M --thinpool pool2 --name odd vg2 >/dev/null
write vg2/odd 1
dm_case thin-odd-size vg2 odd
# An old-style (COW) snapshot of a thin volume turns it into an origin.
lvcreate --quiet --snapshot --size 8M --name thin2cow vg/thin2 >/dev/null
report thin vg

# A multi-segment origin, and a snapshot whose COW store has two segments,
# so segment rows repeat per LV.
lvcreate --quiet --size 8M --name seg1 vg >/dev/null
lvcreate --quiet --size 8M --name filler1 vg >/dev/null
lvextend --quiet --size +8M vg/seg1 >/dev/null
lvcreate --quiet --snapshot --size 8M --name segsnap vg/seg1 >/dev/null
lvcreate --quiet --size 4M --name filler2 vg >/dev/null
lvextend --quiet --size +8M vg/segsnap >/dev/null
write vg/seg1 2
report multiseg vg

# An invalid snapshot: more written to its origin than its store holds.
lvcreate --quiet --size 16M --name lvinv vg >/dev/null
lvcreate --quiet --snapshot --size 4M --name snapinv vg/lvinv >/dev/null
write vg/lvinv 12 || true
dm_case snapshot-invalid vg snapinv
report invalid vg

# Merges that LVM delays: the origin is open, or the snapshot is.
lvcreate --quiet --size 32M --name mpo vg >/dev/null
lvcreate --quiet --snapshot --size 36M --name mps vg/mpo >/dev/null
write vg/mpo 8
exec 3</dev/vg/mpo
run_case merge-delayed-origin-open lvm lvconvert --merge --background vg/mps
dm_case merge-pending vg mps
report merge-pending vg
run_case lvcreate-origin-merging lvm lvcreate --snapshot --name another --size 8M vg/mpo
run_case lvremove-merging lvm lvremove --yes vg/mps
lvcreate --quiet --size 8M --name mpo2 vg >/dev/null
lvcreate --quiet --snapshot --size 8M --name mps2 vg/mpo2 >/dev/null
exec 4</dev/vg/mps2
run_case merge-delayed-snapshot-open lvm lvconvert --merge --background vg/mps2
exec 4<&-
# A thin snapshot's merge, delayed the same way.
lvcreate --quiet --virtualsize 8M --thinpool pool --name thin3 vg >/dev/null
lvcreate --quiet --snapshot --name tsnap3 vg/thin3 >/dev/null
exec 5</dev/vg/thin3
run_case merge-delayed-thin lvm lvconvert --merge --background vg/tsnap3
report merge-pending-thin vg

# A merge in progress, on a PV whose writes take 20 ms each, with the
# origin written in scattered 4 KiB blocks: the kernel merges runs of
# adjacent chunks in one go, so scattered chunks make one slow step each and
# the merge lasts long enough to be seen. Recorded while the snapshot-merge
# target still has chunks to copy, then once it has copied them all. The
# snapshot stays until lvconvert's background poll sees that and removes it,
# every activation/polling_interval (15 s); --interval 600 keeps it there
# for the recording.
mkpv slow 160 20
vgcreate --quiet vgm /dev/mapper/pv-slow >/dev/null
lvcreate --quiet --size 40M --name org vgm >/dev/null
lvcreate --quiet --snapshot --size 44M --name msnap vgm/org >/dev/null
python3 - /dev/vgm/org <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
for i in range(800):
    os.pwrite(fd, b"\xa5" * 4096, i * 8192)
os.fsync(fd)
os.close(fd)
PY
run_case merge-started lvm lvconvert --merge --background --interval 600 vgm/msnap
# merge_state prints "merging" while chunks remain, "done" once none do.
merge_state() {
	dmsetup status vgm-org | awk '$3 == "snapshot-merge" {
		split($4, a, "/"); print (a[1] > $5) ? "merging" : "done" }'
}
for _ in $(seq 1 300); do
	[ "$(merge_state)" != merging ] || break
	sleep 0.1
done
[ "$(merge_state)" = merging ] || { log "missed the merge in progress"; exit 1; }
report merging vgm
# Suspending the origin pauses the merge, so that lvs and dmsetup see the
# same numbers.
dmsetup suspend vgm-org
dm_case snapshot-merge vgm msnap vgm-org
dmsetup resume vgm-org
for _ in $(seq 1 1200); do
	[ "$(merge_state)" != done ] || break
	sleep 0.1
done
[ "$(merge_state)" = done ] || { log "the merge did not finish"; exit 1; }
dm_case snapshot-merge-done vgm msnap vgm-org
report merged vgm

# Reports of several VGs, of one, and of one that does not exist.
report all
report filter vg2
report missing-vg vg2 nosuchvg

# Errors, as fs will meet them.
lvcreate --quiet --size 320M --name fat vg >/dev/null
lvcreate --quiet --snapshot --size 8M --name snapfat vg/fat >/dev/null
lvcreate --quiet --size 8M --name victim vg >/dev/null
lvcreate --quiet --snapshot --size 8M --name snapx vg/victim >/dev/null
run_case lvcreate-exists lvm lvcreate --snapshot --name snap1 --size 8M vg/lv1
run_case lvcreate-exists-thin lvm lvcreate --snapshot --name tsnap1 vg/thin1
run_case lvcreate-nospace lvm lvcreate --snapshot --name toobig --size 400M vg/fat
run_case lvcreate-nospace-extents lvm lvcreate --snapshot --name toobig --extents 100%ORIGIN vg/fat
lvs --noheadings --units b --nosuffix -o lv_name,lv_size,origin_size vg/toobig >"$out/errors/lvcreate-nospace-extents.lvs" 2>&1 || true
lvremove --quiet --yes vg/toobig >/dev/null 2>&1 || true
run_case lvcreate-nospace-free lvm lvcreate --snapshot --name small --extents 100%FREE vg/victim
lvremove --quiet --yes vg/small >/dev/null 2>&1 || true
run_case lvcreate-invalid-name lvm lvcreate --snapshot --name 'bad name' --size 8M vg/lv1
run_case lvcreate-invalid-char lvm lvcreate --snapshot --name 'bad:name' --size 8M vg/lv1
run_case lvcreate-leading-hyphen lvm lvcreate --snapshot --name -x --size 8M vg/lv1
run_case lvcreate-dotdot lvm lvcreate --snapshot --name .. --size 8M vg/lv1
run_case lvcreate-reserved-prefix lvm lvcreate --snapshot --name snapshot1 --size 8M vg/lv1
run_case lvcreate-reserved-pvmove lvm lvcreate --snapshot --name pvmove0 --size 8M vg/lv1
run_case lvcreate-reserved-tmeta lvm lvcreate --snapshot --name x_tmeta --size 8M vg/lv1
run_case lvcreate-reserved-vorigin lvm lvcreate --snapshot --name x_vorigin --size 8M vg/lv1
run_case lvcreate-name-too-long lvm lvcreate --snapshot --name "$(printf 'n%.0s' $(seq 1 124))" --size 8M vg/lv1
run_case lvcreate-snapshot-of-snapshot lvm lvcreate --snapshot --name snapsnap --size 8M vg/snap1
run_case lvcreate-no-origin lvm lvcreate --snapshot --name s --size 8M vg/nosuch
run_case lvcreate-no-vg lvm lvcreate --snapshot --name s --size 8M nosuchvg/lv1
run_case lvcreate-bad-size lvm lvcreate --snapshot --name s --size 1.5q vg/lv1
run_case lvcreate-bad-extents lvm lvcreate --snapshot --name s --extents 20%LV vg/lv1
exec 6</dev/vg/snapx
run_case lvremove-open lvm lvremove --yes vg/snapx
exec 6<&-
mkfs.ext4 -q /dev/vg/victim
lvcreate --quiet --snapshot --size 8M --name snapfs vg/victim >/dev/null
mkdir -p /tmp/record-lvm-mnt
mount -o ro /dev/vg/snapfs /tmp/record-lvm-mnt
mounts+=(/tmp/record-lvm-mnt)
run_case lvremove-mounted lvm lvremove --yes vg/snapfs
umount /tmp/record-lvm-mnt
mounts=()
dmsetup create record-holder --table "0 $(blockdev --getsz /dev/vg/snapx) linear /dev/vg/snapx 0"
holders+=(record-holder)
run_case lvremove-holder lvm lvremove --yes vg/snapx
dmsetup remove record-holder
holders=()
run_case lvremove-missing lvm lvremove --yes vg/nosuch
run_case lvremove-no-vg lvm lvremove --yes nosuchvg/x
run_case lvrename-exists lvm lvrename vg snap1 snap0
run_case lvrename-missing lvm lvrename vg nosuch other
run_case lvrename-reserved lvm lvrename vg snap1 snapshot2
run_case lvrename-invalid lvm lvrename vg snap1 'a b'
run_case lvextend-nospace lvm lvextend --size +2G vg/filler1
run_case lvextend-nospace-snapshot lvm lvextend --size +300M vg/snapfat
run_case lvextend-zero lvm lvextend --size +0 vg/snap0
run_case lvextend-bad-size lvm lvextend --size +1.5q vg/snap0
run_case lvconvert-merge-not-snapshot lvm lvconvert --merge --background vg/lv1
run_case lvconvert-merge-missing lvm lvconvert --merge --background vg/nosuch
run_case lvchange-missing lvm lvchange -ay -K vg/nosuch
# LVM only checks that "vg/lv" fits 128 bytes, but a COW snapshot also
# needs the device-mapper name "vg-lv-cow": one of 121 characters here
# passes the first check, fails the second after the LV was written to the
# metadata, and leaves it behind. Recorded last, in vg2.
lvcreate --quiet --size 4M --name o vg2 >/dev/null
lvcreate --quiet --extents 100%FREE --name fill vg2 >/dev/null
run_case lvcreate-nospace-extents-full lvm lvcreate --snapshot --name s --extents 20%ORIGIN vg2/o
lvremove --quiet --yes vg2/fill >/dev/null
run_case lvcreate-dm-name-too-long lvm lvcreate --snapshot --name "$(printf 'm%.0s' $(seq 1 121))" --size 4M vg2/o
report after-dm-name-too-long vg2

exec 3<&- 5<&-
# shell/ was recorded by hand and handwritten/ written by hand (see
# testdata/README): keep them.
for kept in shell handwritten; do
	if [ -d "$dest/$kept" ]; then cp -a "$dest/$kept" "$out/"; fi
done
rm -rf "$dest"
mv "$out" "$dest"
log "recorded into $dest"
