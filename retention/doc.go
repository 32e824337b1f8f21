// Package retention holds snapfs's rules for scheduled snapshots, holds and
// expiry: which scheduled snapshots the keep policy removes, when the next
// scheduled snapshot is due and what it is called, how `expire WHEN` is read,
// and how holds, expiry and the schedule mark are carried in LVM tags. It is
// pure: it runs no command, reads no clock and takes the time as an argument,
// so that every rule is table-tested. The loop that lists snapshots, takes and
// removes them, and emits the events lives elsewhere and calls this package.
//
// The rules, each documented where it is implemented:
//
//   - Only snapshots tagged snapfs_auto are pruned, and only they count for
//     the policy. Among them, one is kept while it is one of the `last`
//     newest, or the newest of its hour among the `hourly` newest hours that
//     have one, and likewise for days, ISO weeks and months, all in UTC
//     (sanoid's and snapper's rules). Hours, days, weeks and months without
//     a scheduled snapshot do not count. A held snapshot, or one in use,
//     takes its place in the policy like any other but is never removed.
//     A policy whose counts are all zero (no `keep`) removes nothing (Prune).
//   - Schedule slots are aligned to the clock: Unix time modulo the interval,
//     so a 15m schedule has slots at :00, :15, :30 and :45 UTC and every host
//     and restart agrees (Slot). A snapshot is due when the newest scheduled
//     one is older than the current slot's start, so a schedule missed while
//     snapfs was stopped is caught up with one snapshot, and one made "in the
//     future" before the clock was set back holds off the next until its own
//     slot has passed (Due). Scheduled snapshots are named
//     auto-YYYYMMDD-HHMMSS in UTC (Name).
//   - `expire WHEN` takes a positive duration from now (90m, 36h, 7d, 2w, or
//     what time.ParseDuration reads), an RFC 3339 time after now, or never
//     (ParseExpire).
//   - A hold is the tag snapfs_hold, the schedule mark snapfs_auto, and
//     expiry the tag snapfs_expires_<Unix seconds>, rounded up to the second
//     so that a snapshot never expires before its time; of several expiry
//     tags the latest wins (ExpiresTag, ParseTags, Expired).
package retention
