package fs

import (
	"errors"
	"syscall"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/model"
)

// Errors of the tree itself, beside those LVM reports.
var (
	// errNotAllowed is an operation the tree does not offer (SPEC: EPERM).
	errNotAllowed = errors.New("operation not allowed by the tree")
	// errFixedName is a name taken by a fixed file of the directory.
	errFixedName = errors.New("name is a fixed file name")
	// errBadCommand is an unknown ctl command or a bad argument.
	errBadCommand = errors.New("unknown ctl command or bad argument")
	// errDomainBusy is an LV that is a disk of a Xen domain not shut down.
	errDomainBusy = errors.New("LV is a disk of a running Xen domain")
)

// errnoTable is the one map from errors to errno, checked in order.
var errnoTable = []struct {
	err   error
	errno syscall.Errno
}{
	{lvm.ErrInvalidName, syscall.EINVAL},
	{lvm.ErrInvalidArg, syscall.EINVAL},
	{errBadCommand, syscall.EINVAL},
	{lvm.ErrExists, syscall.EEXIST},
	{errFixedName, syscall.EEXIST},
	{lvm.ErrNoSpace, syscall.ENOSPC},
	{lvm.ErrInUse, syscall.EBUSY},
	{errDomainBusy, syscall.EBUSY},
	{errFilesBusy, syscall.EBUSY},
	{errNotAllowed, syscall.EPERM},
	{lvm.ErrTimeout, syscall.ETIMEDOUT},
	{lvm.ErrNotFound, syscall.ENOENT},
	{model.ErrGone, syscall.ENOENT},
}

// toErrno maps an error to the errno SPEC names for it; anything unknown is
// an LVM failure, EIO.
func toErrno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	for _, row := range errnoTable {
		if errors.Is(err, row.err) {
			return row.errno
		}
	}
	return syscall.EIO
}
