// Package e2e runs snapfs's end-to-end tests, against real LVM, in a
// throwaway virtual machine. The development and CI machines have no
// device-mapper, so TestVM builds the daemon and the guest tests
// (package e2e/guest, build tag vmguest), boots a VM with e2e/vm/run and runs
// the guest tests in it. The package has no code of its own.
//
// The pieces:
//
//	e2e/vm/run         boots a VM (qemu, software emulation) whose root is the
//	                   host's, read-only, and runs one command in it;
//	                   e2e/vm/run --help tells how
//	e2e/vm/init        the initramfs's /init: modules, mounts, then guest-init
//	e2e/vm/guest-init  PID 1 in the VM: lvm.conf without udev, runs the command,
//	                   reports its exit status, powers off
//	e2e/vm/mkvg        in the VM: a volume group on a loop file
//	e2e/vm/demo        in the VM: the interactive demo of "make demo"
//	e2e/guest          the tests that run in the VM
//
// Run the tests with "make e2e" or "go test ./e2e -run TestVM -v". Set
// SNAPFS_E2E_RUN to a -test.run pattern to run only some guest tests. TestVM
// is skipped under -short and, outside CI, when qemu or a kernel is missing
// (scripts/ensure-deps installs them); with CI set it fails instead.
package e2e
