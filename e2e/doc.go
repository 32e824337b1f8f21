// Package e2e runs snapfs's end-to-end tests, against real LVM and real Xen,
// in throwaway virtual machines. The development and CI machines have no
// device-mapper, so TestVM builds the daemon and the guest tests
// (package e2e/guest, build tag vmguest), boots a VM with e2e/vm/run and runs
// the guest tests in it. TestXen does the same with the Xen guest tests (build
// tags vmguest and xenguest) in dom0 of a Xen 4.17 host that e2e/vm/run --xen
// boots under qemu, where PV DomUs run on LVs. TestShared boots two VMs at
// once on one shared disk (e2e/vm/run --disk), hosts 1 and 2 of a VG shared
// through lvmlockd and sanlock, each with a snapfs, and runs the two halves
// of the shared-VG guest test (build tags vmguest and sharedguest) in them;
// they meet in a rendezvous directory that both mount read-write. The
// package has no code of its own.
//
// The pieces:
//
//	e2e/vm/run         boots a VM (qemu, software emulation) whose root is the
//	                   host's, read-only, and runs one command in it;
//	                   e2e/vm/run --help tells how
//	e2e/vm/init        the initramfs's /init: modules, mounts, then guest-init
//	e2e/vm/guest-init  PID 1 in the VM: lvm.conf without udev, runs the command,
//	                   reports its exit status, powers off
//	e2e/vm/xen-dom0    sourced by guest-init under --xen: starts the toolstack
//	e2e/vm/mkvg        in the VM: a volume group on a loop file
//	e2e/vm/mkdomu      in dom0: the kernel and busybox initramfs of a PV DomU
//	e2e/vm/xen-block   in dom0: the test DomUs' block hotplug script
//	e2e/vm/demo        in the VM: the interactive demo of "make demo"
//	e2e/guest          the tests that run in the VM
//
// Run the tests with "make e2e" or
// "go test ./e2e -run 'TestVM|TestXen|TestShared' -v". Set SNAPFS_E2E_RUN to
// a -test.run pattern to run only some guest tests of TestVM or TestXen.
// "make record-shared" runs TestShared with SNAPFS_SHARED_RECORD set, which
// copies the LVM lock failures the guests recorded into testdata/lvm/errors.
// The tests are skipped under -short and, outside CI, when qemu, a kernel,
// Xen, lvmlockd or sanlock is missing (scripts/ensure-deps installs them);
// with CI set they fail instead.
package e2e
