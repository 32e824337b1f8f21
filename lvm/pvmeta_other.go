//go:build !linux

package lvm

// oDirect is Linux's; elsewhere MetadataSeqno reads through the cache.
const oDirect = 0
