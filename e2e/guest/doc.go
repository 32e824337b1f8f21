// Package guest holds the end-to-end tests that run inside the test VM, where
// device-mapper and LVM are real. They are built with the vmguest build tag
// and run by e2e.TestVM through e2e/vm/run; on the host they are never built
// by a plain "go test ./...". xen_test.go, built with the tags vmguest and
// xenguest, holds the scenarios that e2e.TestXen runs in a Xen dom0
// (e2e/vm/run --xen). shared_test.go, built with the tags vmguest and
// sharedguest, is the shared-VG scenario that e2e.TestShared runs in two VMs
// at once, one half in each (SNAPFS_HOST_ID 1 or 2).
//
// Run them with "make e2e", or by hand:
//
//	go build -o .build/snapfs ./cmd/snapfs
//	go test -c -tags vmguest -o .build/guest.test ./e2e/guest
//	make man OUT=.build   # for the make install tests
//	(cd e2e/guest && ../vm/run --env SNAPFS_BIN=$PWD/../../.build/snapfs -- ../../.build/guest.test -test.v)
//
// In the VM, SNAPFS_BIN is the daemon under test and SNAPFS_REPO the
// checkout. The helpers in helpers_test.go keep the scenarios short: mkVG
// creates a volume group on a loop file and removes it when the test ends,
// run runs a command and fails the test with its output.
package guest
