// Package guard decides, one reading at a time, what snapfs's guard does
// about a COW snapshot's store or a thin pool's data or metadata: extend it,
// and by how much, and which events to emit (filling, invalid, low-space),
// and how fast it fills. It is pure: it reads no device, runs no command and
// takes the time as an argument, so that every rule is table-tested. The
// loop that reads device-mapper status every guard_interval, runs lvextend
// and emits the events lives elsewhere and calls Decide.
//
// The rules, each documented where it is implemented:
//
//   - Thresholds are reached, not passed: use at exactly extend_at or
//     warn_at percent counts (Decide).
//   - Sizes round the cautious way: extend_by and min_free percentages round
//     up, an extension is whole extents rounded up, and the store's maximum
//     rounds down to whole extents (Size.Of, Decide).
//   - A COW store is never made bigger than lvm2's own useful maximum
//     (CowMaxSize), and extend_max = N%ORIGIN means what lvcreate makes of it
//     (Decide).
//   - When the VG cannot give the whole extension above min_free, the guard
//     extends by what fits in whole extents; only when not one extent fits
//     is it low-space (Decide).
//   - Events fire once per crossing, and a store's first reading only arms
//     them (Decide).
//   - The fill rate is the growth of the used bytes over the last minute of
//     readings (State.FillRate).
package guard
