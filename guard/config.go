package guard

import "fmt"

// Config is the guard's settings for one origin: the [guard] table with the
// origin's overrides applied. They apply to each of the origin's COW
// snapshots; a thin pool, which has no origin, takes whichever Config the
// caller gives it.
type Config struct {
	ExtendAt int // percent used at which to extend; 0 = off
	WarnAt   int // percent used for a filling event; 0 = none
	// ExtendBy is a percentage of the store's current size (a COW store, a
	// pool's data or metadata) or bytes.
	ExtendBy Size
	// ExtendMax is a percentage of the origin's size (as lvcreate's
	// N%ORIGIN: plus the COW metadata) or bytes. A thin pool has no origin:
	// a percentage does not limit it, bytes do.
	ExtendMax Size
	// MinFree is a percentage of the VG's size or bytes; zero for none.
	MinFree Size
}

// Validate checks a Config as the config loader must refuse it. The error
// starts with the key at fault ("extend_at: ..."), and the loader adds the
// line. WarnAt equal to ExtendAt is allowed (the warning and the extension
// come at the same reading); above it is not, since the store would be
// extended before it ever warned.
func (c Config) Validate() error {
	switch {
	case c.ExtendAt < 0 || c.ExtendAt > 100:
		return fmt.Errorf("extend_at: %d is not a percentage from 0 (off) to 100", c.ExtendAt)
	case c.WarnAt < 0 || c.WarnAt > 100:
		return fmt.Errorf("warn_at: %d is not a percentage from 0 (none) to 100", c.WarnAt)
	case c.ExtendAt > 0 && c.WarnAt > c.ExtendAt:
		return fmt.Errorf("warn_at: %d is above extend_at (%d): the store would be extended before it warned", c.WarnAt, c.ExtendAt)
	case c.ExtendBy.IsZero() || c.ExtendBy.Percent < 0:
		return fmt.Errorf("extend_by: must be more than 0")
	case c.ExtendMax.IsZero() || c.ExtendMax.Percent < 0:
		return fmt.Errorf("extend_max: must be more than 0")
	case c.MinFree.Percent < 0 || c.MinFree.Percent > 100:
		return fmt.Errorf("min_free: %g%% is not a percentage from 0 to 100", c.MinFree.Percent)
	}
	return nil
}
