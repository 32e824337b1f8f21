#!/bin/bash
# Records what real Xen prints, for the tests of the xen package: `xl list`
# in every domain state, `xl list -l`, the block backends in xenstore and in
# sysfs, and the messages and exit codes of xl pause and unpause, save,
# destroy and restore. It runs as root in a Xen dom0 booted by the test
# harness (see testdata/README):
#
#   e2e/vm/run --xen --rw "$PWD/testdata" -- bash testdata/record-xen.sh
#
# and replaces testdata/xen/ as a whole, except the files not recorded here
# (see testdata/README). Its VG lives on a loop file in the VM's /tmp and
# dies with the VM.
#
# Layout of testdata/xen/ (recorded files):
#   VERSION                    xl info's versions and the kernel
#   devices                    lv_name major minor of every LV, for reference
#   list/NAME.out              `xl list` in one scenario
#   list-long/NAME.json        `xl list -l` in one scenario
#   xenstore/NAME.out          `xenstore-ls -f /local/domain/0/backend/vbd`
#   sysfs/NAME/vbd-D-N/physical_device   the block backends in sysfs
#   commands/NAME.{argv,stdout,stderr,exit}   one xl command
set -euo pipefail
export LC_ALL=C LVM_SUPPRESS_FD_WARNINGS=1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
repo=$(cd "$here/.." && pwd -P)
dest=$here/xen
out=$here/xen.new
work=$(mktemp -d /tmp/record-xen.XXXXXX)
rm -rf "$out"
mkdir -p "$out/list" "$out/list-long" "$out/xenstore" "$out/sysfs" "$out/commands"

log() { echo "record-xen: $*" >&2; }

[ "${SNAPFS_XEN:-}" = 1 ] || { log "runs in a Xen dom0: e2e/vm/run --xen ..."; exit 2; }

# record NAME ARGV...: runs one command and records its argv, output and
# exit status, whatever it is.
record() {
	local name=$1
	shift
	printf '%s\n' "$@" >"$out/commands/$name.argv"
	set +e
	"$@" >"$out/commands/$name.stdout" 2>"$out/commands/$name.stderr"
	echo $? >"$out/commands/$name.exit"
	set -e
}

# snapshot NAME: records xl list, xl list -l, xenstore and sysfs as they are.
snapshot() {
	local name=$1 dev d
	xl list >"$out/list/$name.out"
	xl list -l >"$out/list-long/$name.json"
	set +e
	xenstore-ls -f /local/domain/0/backend/vbd >"$out/xenstore/$name.out" 2>"$out/xenstore/$name.stderr"
	echo $? >"$out/xenstore/$name.exit"
	set -e
	mkdir -p "$out/sysfs/$name"
	for dev in /sys/bus/xen-backend/devices/vbd-*; do
		[ -e "$dev" ] || continue
		d=$out/sysfs/$name/${dev##*/}
		mkdir -p "$d"
		cat "$dev/physical_device" >"$d/physical_device"
	done
}

# create NAME DISKS [EXTRA]: starts a PV DomU with those disks, each given as
# PATH;VDEV;ACCESS, separated by spaces. Their hotplug script is
# e2e/vm/xen-block (see there why).
create() {
	local name=$1 disks=$2 extra=${3:-} spec path vdev access list=
	for spec in $disks; do
		IFS=';' read -r path vdev access <<<"$spec"
		list+="\"vdev=$vdev, access=$access, script=$repo/e2e/vm/xen-block, target=$path\", "
	done
	cat >"$work/$name.cfg" <<CFG
name = "$name"
type = "pv"
kernel = "$work/domu/vmlinuz"
ramdisk = "$work/domu/initrd"
extra = "console=hvc0 quiet $extra"
memory = 96
vcpus = 1
on_poweroff = "preserve"
on_crash = "preserve"
disk = [ $list ]
CFG
	xl create -q "$work/$name.cfg"
}

log "making the VG and the DomU image"
"$repo/e2e/vm/mkdomu" "$work/domu" >/dev/null
vg=xvg
loop=$("$repo/e2e/vm/mkvg" $vg 512)
lvcreate -qq --size 32M --name base $vg
lvcreate -qq --snapshot --size 8M --name clone1 $vg/base
lvcreate -qq --size 16M --name data $vg
lvcreate -qq --size 16M --name web $vg
lvcreate -qq --size 16M --name offdisk $vg
# A disk named /dev/dm-N. Without udev, /dev/mapper holds device nodes, not
# links to /dev/dm-N: find dm-N through sysfs.
read -r major minor < <(lvs --noheadings -o lv_kernel_major,lv_kernel_minor $vg/data)
dm=$(basename "$(readlink "/sys/dev/block/$major:$minor")")
[ -b "/dev/$dm" ] || { log "no /dev/$dm"; exit 1; }

{
	xl info | grep -E '^(xen_version|xen_caps|release|xend_config_format)'
	xl help 2>&1 | head -n 1 || true
	lvm version | head -n 1
} >"$out/VERSION"

snapshot empty
record xenstore-ls-empty xenstore-ls -f /local/domain/0/backend/vbd

# One at a time: xenstored under emulation lost its connections when three
# xl create ran at once.
log "starting three DomUs"
long=a-domain-whose-name-is-longer-than-forty-characters
create clone1 "/dev/$vg/clone1;xvda;w /dev/$dm;xvdb;r"
create $long "/dev/mapper/$vg-web;xvda;w"
create off "/dev/$vg/offdisk;xvda;w" snapfs_action=poweroff
lvs --noheadings -o lv_name,lv_kernel_major,lv_kernel_minor $vg >"$out/devices"

# The last one powers itself off once booted (flags ---s--).
for _ in $(seq 300); do
	xl list off | grep -q -- '---s--' && break
	sleep 1
done
snapshot running

log "pause and unpause"
record pause-name xl pause clone1
snapshot paused
record pause-paused xl pause clone1
record unpause-name xl unpause clone1
record unpause-name-again xl unpause clone1
record unpause-not-paused xl unpause clone1
record pause-unknown-name xl pause nosuchdomain
record pause-unknown-id xl pause 999
record unpause-unknown-id xl unpause 999
record list-one xl list clone1
record list-unknown xl list nosuchdomain
record domid xl domid clone1
record domid-unknown xl domid nosuchdomain

# A checkpoint as snapfs takes and reverts one: xl save -p leaves the domain
# paused with its disks attached; the revert destroys it and restores it,
# under a new ID. The save file lives on the VM's /tmp (about the domain's
# memory, 96 MiB).
log "save, destroy and restore"
record save-paused xl save -p clone1 "$work/clone1.save"
snapshot saved
record unpause-saved xl unpause clone1
record save-unknown-name xl save -p nosuchdomain "$work/nosuchdomain.save"
record destroy-name xl destroy clone1
record destroy-unknown-name xl destroy nosuchdomain
record restore-paused xl restore -p "$work/clone1.save"
snapshot restored
record unpause-restored xl unpause clone1
record restore-missing xl restore "$work/nosuchdomain.save"
rm -f "$work/clone1.save"

log "destroying the DomUs"
for d in clone1 $long off; do
	xl destroy "$d"
done
snapshot destroyed

vgremove -qq -f $vg
losetup -d "$loop"
rm -rf "$dest" "$work"
mv "$out" "$dest"
log "done: testdata/xen"
