package lvm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// DefaultBinary is the LVM binary a Client runs when given none.
const DefaultBinary = "lvm"

// Client runs LVM commands through a Runner. Every command is one process,
// `Binary <subcommand> ...`; names are validated before anything runs, so a
// name LVM would reject (or one that looks like an option) never reaches it.
type Client struct {
	Runner Runner
	Binary string // "lvm" when empty
	// Devices, when set, returns the devices of the PVs of VG vg, or nil
	// when not all are known. CreateSnapshot then names them to LVM
	// (--devices), when it has no filter to give (LVDevices), which spares
	// it the scan of every other block device of the host: each active LV
	// is one, and with a thousand LVs that scan is much of an lvcreate's
	// time.
	Devices func(vg string) []string
	// LVDevices, when set, lists the host's device-mapper devices
	// (DeviceMapper.List). Report and every command that changes an LV
	// then give LVM a global_filter that spares it the look at every LV's
	// device (see lvDeviceRejects and runFiltered).
	LVDevices func() ([]DMDevice, error)
	// Process runs lvmconfig, whose answer is its output, which an lvm
	// shell does not return; Runner when nil.
	Process Runner
	// ConfigDir is LVM's configuration directory, DefaultConfigDir()
	// when empty: a change to lvm.conf or lvmlocal.conf there makes the next
	// command with a filter read LVM's settings for it anew.
	ConfigDir string

	scanMu sync.Mutex
	scan   scanSettings
}

// NewClient returns a Client running binary (DefaultBinary when empty)
// through r.
func NewClient(r Runner, binary string) *Client {
	if binary == "" {
		binary = DefaultBinary
	}
	return &Client{Runner: r, Binary: binary}
}

// argv is the command line `Binary args...`.
func (c *Client) argv(args []string) []string {
	bin := c.Binary
	if bin == "" {
		bin = DefaultBinary
	}
	return append([]string{bin}, args...)
}

func (c *Client) run(ctx context.Context, args ...string) ([]byte, error) {
	return c.Runner.Run(ctx, c.argv(args)...)
}

// runProcess runs `Binary args...` through Process, or Runner without one.
func (c *Client) runProcess(ctx context.Context, args ...string) ([]byte, error) {
	if c.Process == nil {
		return c.run(ctx, args...)
	}
	return c.Process.Run(ctx, c.argv(args)...)
}

// runFiltered runs `Binary args...` with the scan filter when there is one
// to give (see scanFilter): args[0] is the command's name, and the filter
// goes after it, or into the command's own --config. An LVM that refuses
// that command line (exit 3) changed nothing, and gets the command again
// without the filter.
func (c *Client) runFiltered(ctx context.Context, args ...string) ([]byte, error) {
	if out, ran, err := c.tryFiltered(ctx, args); ran {
		return out, err
	}
	return c.run(ctx, args...)
}

// tryFiltered runs args with the scan filter, as runFiltered does, and
// tells whether that was LVM's answer (ran): not when there is no filter to
// give, nor when LVM refused the command line.
func (c *Client) tryFiltered(ctx context.Context, args []string) (out []byte, ran bool, err error) {
	cfg := c.scanFilter(ctx)
	if cfg == "" {
		return nil, false, nil
	}
	out, err = c.run(ctx, withConfig(args, cfg)...)
	if invalidCommandLine(err) {
		return nil, false, nil
	}
	return out, true, err
}

// withConfig returns command line args (args[0] the command's name) with
// cfg added to its --config, or given as one after the name when it has
// none: LVM reads one --config only.
func withConfig(args []string, cfg string) []string {
	out := slices.Clone(args)
	for i := 1; i+1 < len(out); i++ {
		if out[i] == "--config" {
			out[i+1] += " " + cfg
			return out
		}
	}
	return append([]string{out[0], "--config", cfg}, out[1:]...)
}

// Report returns the volume groups named in vgs (all of them when vgs is
// empty) and all their LVs, hidden ones included, from one `lvm fullreport`
// (see reportArgs for the command line), with the scan filter when there
// is one (runFiltered).
//
// When some of the named VGs do not exist, LVM still reports the others and
// exits 5: Report then returns the report of those together with the error,
// which wraps ErrNotFound.
func (c *Client) Report(ctx context.Context, vgs []string) (*Report, error) {
	for _, vg := range vgs {
		if err := validateName(vg); err != nil {
			return nil, fmt.Errorf("fullreport: volume group name %q: %w", vg, err)
		}
	}
	out, err := c.runFiltered(ctx, reportArgs(vgs)...)
	if err != nil {
		var ce *CommandError
		if errors.Is(err, ErrNotFound) && errors.As(err, &ce) && len(bytes.TrimSpace(ce.Stdout)) > 0 {
			if rep, perr := ParseReport(bytes.NewReader(ce.Stdout)); perr == nil {
				return rep, fmt.Errorf("fullreport: %w", err)
			}
		}
		return nil, fmt.Errorf("fullreport: %w", err)
	}
	rep, err := ParseReport(bytes.NewReader(out))
	if err != nil {
		return nil, fmt.Errorf("fullreport: %w", err)
	}
	return rep, nil
}

// CreateSnapshot takes a snapshot called name of vg/origin:
// `lvcreate --snapshot --name NAME --size S [--addtag TAG...] VG/ORIGIN`,
// with --extents for a size in extents (20%ORIGIN) and no size at all for a
// thin snapshot (a zero SizeSpec); the tags are the new LV's from its first
// moment. The name and tags are validated first; an invalid one starts no
// process.
//
// With LVDevices, the command gets a global_filter that spares LVM the look
// at every LV's device (see lvDeviceRejects); without one to give, Devices
// names the VG's PVs (--devices, a process of its own) when it knows them.
//
// LVM creates the snapshot whole or not at all. Beware that with an extents
// size LVM allocates approximately (it may settle for less space than
// asked), where a fixed size fails with ErrNoSpace.
func (c *Client) CreateSnapshot(ctx context.Context, vg, origin, name string, size SizeSpec, tags ...string) error {
	if err := ValidateName(vg, name); err != nil {
		return fmt.Errorf("lvcreate %s/%s: %w", vg, name, err)
	}
	if err := validateName(origin); err != nil {
		return fmt.Errorf("lvcreate %s/%s: origin %q: %w", vg, name, origin, err)
	}
	args := []string{"lvcreate", "--snapshot", "--name", name}
	switch {
	case size.Size != "" && size.Extents != "":
		return fmt.Errorf("lvcreate %s/%s: both a size and extents given: %w", vg, name, ErrInvalidArg)
	case size.Size != "":
		if err := ValidateSize(size.Size); err != nil {
			return fmt.Errorf("lvcreate %s/%s: %w", vg, name, err)
		}
		args = append(args, "--size", size.Size)
	case size.Extents != "":
		if err := validateExtents(size.Extents); err != nil {
			return fmt.Errorf("lvcreate %s/%s: %w", vg, name, err)
		}
		args = append(args, "--extents", size.Extents)
	}
	for _, tag := range tags {
		if err := ValidateTag(tag); err != nil {
			return fmt.Errorf("lvcreate %s/%s: %w", vg, name, err)
		}
		args = append(args, "--addtag", tag)
	}
	args = append(args, vg+"/"+origin)
	if _, ran, err := c.tryFiltered(ctx, args); ran {
		if err != nil {
			return fmt.Errorf("lvcreate %s/%s: %w", vg, name, err)
		}
		return nil
	}
	if devs := c.devices(vg); devs != "" {
		_, err := c.run(ctx, append([]string{args[0], "--devices", devs}, args[1:]...)...)
		if !devicesRefused(err) {
			if err != nil {
				return fmt.Errorf("lvcreate %s/%s: %w", vg, name, err)
			}
			return nil
		}
		// LVM changed nothing: the VG has a PV that is not in the list
		// (one added since the model was read), or this LVM has no
		// --devices. It scans all devices then.
	}
	if _, err := c.run(ctx, args...); err != nil {
		return fmt.Errorf("lvcreate %s/%s: %w", vg, name, err)
	}
	return nil
}

// devices returns the argument of --devices for a command on VG vg, or ""
// when Devices knows no list for it, or a device's name could not be in
// one (LVM splits the list at commas).
func (c *Client) devices(vg string) string {
	if c.Devices == nil {
		return ""
	}
	devs := c.Devices(vg)
	if len(devs) == 0 {
		return ""
	}
	for _, d := range devs {
		if !strings.HasPrefix(d, "/dev/") || strings.ContainsAny(d, ", \t\n\"'") {
			return ""
		}
	}
	return strings.Join(devs, ",")
}

// invalidCommandLine tells whether err is LVM refusing a command line
// (exit 3), which changes nothing.
func invalidCommandLine(err error) bool {
	var ce *CommandError
	return errors.As(err, &ce) && ce.ExitCode == exitInvalidCmdLine
}

// devicesRefused tells whether err is LVM refusing a command for its
// --devices list before changing anything: a PV of the VG not in the list
// (lvcreate, lvrename and lvextend will not change a VG with PVs missing;
// lvremove and lvchange would, which is why they never get a list), none
// of the VG's PVs in it (LVM then finds no VG: "Volume group "vg" not
// found", as for an origin or VG that is gone, which the command without
// the list then reports), or an LVM older than 2.03.12 that does not know
// the option (an invalid command line, exit 3, which changes nothing
// either).
func devicesRefused(err error) bool {
	var ce *CommandError
	if !errors.As(err, &ce) {
		return false
	}
	return ce.ExitCode == exitInvalidCmdLine || errors.Is(err, ErrNotFound) ||
		strings.Contains(strings.ToLower(ce.Message), "while pvs are missing")
}

// Remove removes vg/name: `lvremove --yes VG/NAME`. It fails with ErrInUse
// while the LV is open. Given an origin, LVM would remove its snapshots
// with it: callers pass snapshots only.
//
// With LVDevices, it runs `lvremove --config devices/global_filter=[...]
// --yes VG/NAME`, the filter rejecting the devices of LVs (see
// runFiltered), as do the other commands below that change an LV.
func (c *Client) Remove(ctx context.Context, vg, name string) error {
	if err := validateLV(vg, name); err != nil {
		return fmt.Errorf("lvremove %s/%s: %w", vg, name, err)
	}
	if _, err := c.runFiltered(ctx, "lvremove", "--yes", vg+"/"+name); err != nil {
		return fmt.Errorf("lvremove %s/%s: %w", vg, name, err)
	}
	return nil
}

// Rename renames vg/old to vg/new: `lvrename VG OLD NEW`. The new name is
// validated first.
func (c *Client) Rename(ctx context.Context, vg, old, new string) error {
	if err := validateLV(vg, old); err != nil {
		return fmt.Errorf("lvrename %s/%s: %w", vg, old, err)
	}
	if err := ValidateName(vg, new); err != nil {
		return fmt.Errorf("lvrename %s/%s: %w", vg, old, err)
	}
	if _, err := c.runFiltered(ctx, "lvrename", vg, old, new); err != nil {
		return fmt.Errorf("lvrename %s/%s %s: %w", vg, old, new, err)
	}
	return nil
}

// Merge starts merging snapshot vg/name back into its origin, in the
// background: `lvconvert --merge --background VG/NAME`. When the origin or
// the snapshot is open, LVM accepts the merge but delays it until the
// origin's next activation; the snapshot then shows as merging (attr S)
// while its device still holds a snapshot target.
func (c *Client) Merge(ctx context.Context, vg, name string) error {
	if err := validateLV(vg, name); err != nil {
		return fmt.Errorf("lvconvert --merge %s/%s: %w", vg, name, err)
	}
	if _, err := c.runFiltered(ctx, "lvconvert", "--merge", "--background", vg+"/"+name); err != nil {
		return fmt.Errorf("lvconvert --merge %s/%s: %w", vg, name, err)
	}
	return nil
}

// Extend grows vg/name by size, in LVM size syntax (e.g. "512M"):
// `lvextend --size +SIZE VG/NAME`. The size is validated first.
func (c *Client) Extend(ctx context.Context, vg, name, size string) error {
	if err := validateLV(vg, name); err != nil {
		return fmt.Errorf("lvextend %s/%s: %w", vg, name, err)
	}
	if err := ValidateSize(size); err != nil {
		return fmt.Errorf("lvextend %s/%s: %w", vg, name, err)
	}
	if _, err := c.runFiltered(ctx, "lvextend", "--size", "+"+size, vg+"/"+name); err != nil {
		return fmt.Errorf("lvextend %s/%s: %w", vg, name, err)
	}
	return nil
}

// ExtendPoolMetadata grows the metadata of thin pool vg/pool by size:
// `lvextend --poolmetadatasize +SIZE VG/POOL`. The size is validated first.
func (c *Client) ExtendPoolMetadata(ctx context.Context, vg, pool, size string) error {
	if err := validateLV(vg, pool); err != nil {
		return fmt.Errorf("lvextend --poolmetadatasize %s/%s: %w", vg, pool, err)
	}
	if err := ValidateSize(size); err != nil {
		return fmt.Errorf("lvextend --poolmetadatasize %s/%s: %w", vg, pool, err)
	}
	if _, err := c.runFiltered(ctx, "lvextend", "--poolmetadatasize", "+"+size, vg+"/"+pool); err != nil {
		return fmt.Errorf("lvextend --poolmetadatasize %s/%s: %w", vg, pool, err)
	}
	return nil
}

// Activate activates vg/name even when it is flagged to skip activation, as
// thin snapshots are: `lvchange -ay -K VG/NAME`.
func (c *Client) Activate(ctx context.Context, vg, name string) error {
	if err := validateLV(vg, name); err != nil {
		return fmt.Errorf("lvchange -ay %s/%s: %w", vg, name, err)
	}
	if _, err := c.runFiltered(ctx, "lvchange", "-ay", "-K", vg+"/"+name); err != nil {
		return fmt.Errorf("lvchange -ay %s/%s: %w", vg, name, err)
	}
	return nil
}

// PollVG restarts LVM's background polling of the operations under way in
// VG vg, `vgchange --poll y VG`: a merge whose lvconvert was killed before
// it forked its poller (its caller died, and its output with it) would
// otherwise stay "merging" until the VG is next activated.
func (c *Client) PollVG(ctx context.Context, vg string) error {
	if err := validateName(vg); err != nil {
		return fmt.Errorf("vgchange --poll y %s: volume group name %q: %w", vg, vg, err)
	}
	if _, err := c.run(ctx, "vgchange", "--poll", "y", vg); err != nil {
		return fmt.Errorf("vgchange --poll y %s: %w", vg, err)
	}
	return nil
}

// AddTag adds tag to vg/name: `lvchange --addtag TAG VG/NAME`. Adding a
// tag the LV already has succeeds and changes nothing (lv_change_tag in
// lib/metadata/metadata.c adds with str_list_add, which skips duplicates).
// The names and the tag are validated first (see ValidateTag); an invalid
// one starts no process. An unknown LV or VG fails with ErrNotFound.
func (c *Client) AddTag(ctx context.Context, vg, name, tag string) error {
	return c.changeTag(ctx, "--addtag", vg, name, tag)
}

// DelTag removes tag from vg/name: `lvchange --deltag TAG VG/NAME`. It
// succeeds when the LV does not have the tag (lv_change_tag ignores it),
// and is validated and fails as AddTag does.
func (c *Client) DelTag(ctx context.Context, vg, name, tag string) error {
	return c.changeTag(ctx, "--deltag", vg, name, tag)
}

func (c *Client) changeTag(ctx context.Context, option, vg, name, tag string) error {
	if err := validateLV(vg, name); err != nil {
		return fmt.Errorf("lvchange %s %s/%s: %w", option, vg, name, err)
	}
	if err := ValidateTag(tag); err != nil {
		return fmt.Errorf("lvchange %s %s/%s: %w", option, vg, name, err)
	}
	if _, err := c.runFiltered(ctx, "lvchange", option, tag, vg+"/"+name); err != nil {
		return fmt.Errorf("lvchange %s %s %s/%s: %w", option, tag, vg, name, err)
	}
	return nil
}

// validateLV checks the names of an existing LV: only that they are names
// LVM could have made, which also keeps them from reading as options.
func validateLV(vg, lv string) error {
	if err := validateName(vg); err != nil {
		return fmt.Errorf("volume group name %q: %w", vg, err)
	}
	if err := validateName(lv); err != nil {
		return fmt.Errorf("logical volume name %q: %w", lv, err)
	}
	return nil
}
