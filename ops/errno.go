package ops

import (
	"errors"
	"fmt"
	"syscall"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/model"
	"github.com/snapfs/snapfs/snapmount"
)

// Errors of the tree itself, beside those LVM reports.
var (
	// ErrNotAllowed is an operation the tree does not offer (SPEC: EPERM).
	ErrNotAllowed = errors.New("operation not allowed by the tree")
	// ErrFixedName is a name taken by a fixed file of the directory.
	ErrFixedName = errors.New("name is a fixed file name")
	// ErrBadCommand is an unknown ctl command or a bad argument.
	ErrBadCommand = errors.New("unknown ctl command or bad argument")
	// ErrDomainBusy is an LV that is a disk of a Xen domain not shut down.
	ErrDomainBusy = errors.New("LV is a disk of a running Xen domain")
	// ErrOriginInactive is the device of a COW snapshot whose origin is
	// not active: snapfs does not activate the origin for a read.
	ErrOriginInactive = errors.New("the snapshot's origin is not active")
)

// errnoTable is the one map from errors to errno, checked in order. It
// lives with the operations because the audit line of every change, made
// through FUSE or by snapfs itself, names the errno its result is.
var errnoTable = []struct {
	err   error
	errno syscall.Errno
}{
	{lvm.ErrInvalidName, syscall.EINVAL},
	{lvm.ErrInvalidArg, syscall.EINVAL},
	{ErrBadCommand, syscall.EINVAL},
	{lvm.ErrExists, syscall.EEXIST},
	{ErrFixedName, syscall.EEXIST},
	{lvm.ErrNoSpace, syscall.ENOSPC},
	{lvm.ErrInUse, syscall.EBUSY},
	{lvm.ErrActiveElsewhere, syscall.EBUSY},
	{lvm.ErrNoLock, syscall.ENOLCK},
	{ErrDomainBusy, syscall.EBUSY},
	{ErrOriginInactive, syscall.EBUSY},
	{ErrHeld, syscall.EBUSY},
	{ErrCheckpointOwned, syscall.EBUSY},
	{snapmount.ErrBusy, syscall.EBUSY},
	{ErrNotAllowed, syscall.EPERM},
	{lvm.ErrTimeout, syscall.ETIMEDOUT},
	{lvm.ErrNotFound, syscall.ENOENT},
	{model.ErrGone, syscall.ENOENT},
}

// Errno maps an error to the errno SPEC names for it; anything unknown is
// an LVM failure, EIO. It is the only such map: fs answers with it, and the
// audit line names it.
func Errno(err error) syscall.Errno {
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

// ErrnoName names an errno as the audit line does: "EBUSY (device or
// resource busy)", or "ok" for none.
func ErrnoName(e syscall.Errno) string {
	if e == 0 {
		return "ok"
	}
	return fmt.Sprintf("%s (%s)", errnoSymbol(e), e.Error())
}

func errnoSymbol(e syscall.Errno) string {
	switch e {
	case syscall.EINVAL:
		return "EINVAL"
	case syscall.EEXIST:
		return "EEXIST"
	case syscall.ENOSPC:
		return "ENOSPC"
	case syscall.EBUSY:
		return "EBUSY"
	case syscall.ENOLCK:
		return "ENOLCK"
	case syscall.EPERM:
		return "EPERM"
	case syscall.ETIMEDOUT:
		return "ETIMEDOUT"
	case syscall.ENOENT:
		return "ENOENT"
	case syscall.EIO:
		return "EIO"
	}
	return fmt.Sprintf("errno %d", int(e))
}
