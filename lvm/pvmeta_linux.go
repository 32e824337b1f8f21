package lvm

import "golang.org/x/sys/unix"

// oDirect bypasses the page cache for MetadataSeqno.
const oDirect = unix.O_DIRECT
