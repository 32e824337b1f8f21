// Package model is the pure model of the snapfs tree: volume groups, their
// origins and the snapshots of each, built from one LVM report and never
// changed after (Tree); the rendering of the status files; and a snapshot's
// live state read from device-mapper (an ioctl, no process). It knows
// nothing of FUSE and runs no command: state keeps the current Tree, fs
// shows it.
package model
