package blockdev

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The mount functions name the mount point by an open file descriptor
// (O_PATH is enough) rather than by a path: the mount point of a snapshot's
// files/ lies inside snapfs's own FUSE mount, and a path walk there would be
// answered by snapfs itself. /proc/self/fd/N reaches the directory without
// any lookup. For the unmount functions the kernel follows the mounts on
// that directory (LOOKUP_MOUNTPOINT, Linux 5.7), so N may be the mount point
// under the mount.

func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }

// MountReadOnly mounts the filesystem of type fstype on source read-only on
// the directory open as dirFD, with MountData's options, nosuid and nodev.
// The device is opened read-only.
func MountReadOnly(source, fstype string, dirFD int) error {
	return MountReadOnlyWith(source, fstype, dirFD, "")
}

// MountReadOnlyWith is MountReadOnly with more mount options, comma
// separated, after MountData's.
func MountReadOnlyWith(source, fstype string, dirFD int, extra string) error {
	data := MountData(fstype)
	if extra != "" {
		data += prefixComma(extra)
		data = strings.TrimPrefix(data, ",")
	}
	err := unix.Mount(source, fdPath(dirFD), fstype, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, data)
	if err != nil {
		return fmt.Errorf("mount -t %s -o ro,nosuid,nodev%s %s: %w", fstype, prefixComma(data), source, err)
	}
	return nil
}

// MountOverlay mounts on the directory open as dirFD a read-only overlay
// (nosuid, nodev) of the lower directories, topmost first, with source as
// the mount's source, so that df and /proc/mounts name it (a device path).
// The overlay has no upper layer: nothing can be written through it. Its
// root directory takes the owner and mode of the topmost layer, everything
// below comes from the first layer that has it.
//
// The lower paths are passed to the kernel in the lowerdir option, where
// ':' separates layers and ',' options: those and '\' are escaped with a
// backslash, as overlayfs's option parser expects (Linux 4.x to 6.x).
func MountOverlay(source string, lower []string, dirFD int) error {
	data := "lowerdir=" + lowerdirValue(lower)
	var err error
	if len(lower) == 0 {
		err = errors.New("no lower directory")
	}
	for _, dir := range lower {
		if dir == "" {
			err = errors.New("an empty lower directory path")
		}
	}
	if err == nil {
		err = unix.Mount(source, fdPath(dirFD), "overlay", unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV, data)
	}
	if err != nil {
		return fmt.Errorf("mount -t overlay -o ro,nosuid,nodev,%s %s: %w", data, source, err)
	}
	return nil
}

// lowerdirEscaper escapes the characters that overlayfs's option parser
// splits on (ovl_next_opt, ovl_split_lowerdirs in fs/overlayfs/).
var lowerdirEscaper = strings.NewReplacer(`\`, `\\`, `:`, `\:`, `,`, `\,`)

func lowerdirValue(lower []string) string {
	escaped := make([]string, len(lower))
	for i, dir := range lower {
		escaped[i] = lowerdirEscaper.Replace(dir)
	}
	return strings.Join(escaped, ":")
}

func prefixComma(s string) string {
	if s == "" {
		return ""
	}
	return "," + s
}

// Unmount unmounts what is mounted on the directory open as dirFD. It fails
// with EBUSY while the mount is in use, and with EINVAL when nothing of this
// mount namespace is mounted there.
func Unmount(dirFD int) error { return umount(dirFD, 0) }

// Detach unmounts lazily: the mount disappears at once, the filesystem when
// its last user lets go.
func Detach(dirFD int) error { return umount(dirFD, unix.MNT_DETACH) }

// Expire unmounts the mount on dirFD if it has not been used since the
// previous Expire: the first call marks it and fails with EAGAIN; any use of
// the mount (a path walk into it, a file closed) clears the mark; a second
// call on a mount still marked unmounts it. A mount in use fails with EBUSY.
func Expire(dirFD int) error { return umount(dirFD, unix.MNT_EXPIRE) }

func umount(dirFD, flags int) error {
	if err := unix.Unmount(fdPath(dirFD), flags); err != nil {
		return fmt.Errorf("umount: %w", err)
	}
	return nil
}
