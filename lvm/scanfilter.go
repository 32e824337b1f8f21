package lvm

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// An LVM command looks at every block device of the host before it reads a
// VG, and every active LV is one: with a thousand LVs that look is more
// than a third of an lvremove or lvcreate in an lvm shell (measured in the
// test VM). The devices of LVs can hold no PV that LVM would use
// (devices/scan_lvs is 0 by default, and LVM then skips them after
// looking), so a global_filter that rejects them by name first spares LVM
// the look and changes nothing else.
//
// The filter names them by their /dev/mapper names, one pattern a VG:
// r|^/dev/mapper/VG-[^-]|, with VG as device-mapper writes it (its hyphens
// doubled). The pattern matches exactly the names device-mapper gives that
// VG's LVs and their hidden layers (a single hyphen after the VG's name,
// which LVM's escaping never leaves inside it, then a first character of
// an LV's name, which is never a hyphen). A name is no proof, so a VG gets
// its pattern only when every device-mapper device of the host named as
// one of its LVs would be is LVM's (its UUID starts with "LVM-"), in a
// listing of the devices right before the command: a LUKS or multipath
// device called "vg-crypt" that holds a PV of VG "vg" keeps the filter
// off for vg. A device that appears later, between the listing and LVM's
// scan, was missing from the VG a moment before, and a bare command run
// at the listing would not have seen it either.
//
// LVM accepts a device when any of its names is accepted
// (lib/filters/filter-regex.c), and the default global_filter, "a|.*|",
// accepts every name, /dev/dm-N and /dev/VG/LV among them. So the filter
// replaces the global_filter instead of going before it, and only where
// the administrator left it at that default: a device none of whose names
// match a pattern passes, as "a|.*|" let it, and the LVs' devices are
// rejected by their /dev/mapper names. Where the administrator set a
// global_filter of their own, uses a devices file (which makes LVM ignore
// the filter), or sets devices/scan_lvs (PVs on LVs), there is no filter.
// lvmconfig reads those settings, again whenever lvm.conf or lvmlocal.conf
// changes.

// DefaultConfigDir is where LVM reads its configuration: $LVM_SYSTEM_DIR,
// or /etc/lvm.
func DefaultConfigDir() string {
	if d := os.Getenv("LVM_SYSTEM_DIR"); d != "" {
		return d
	}
	return "/etc/lvm"
}

// lvDeviceRejects returns the global_filter patterns that reject the
// device-mapper devices of LVs, one per VG whose every device in devs is
// LVM's, sorted.
func lvDeviceRejects(devs []DMDevice) []string {
	ours := map[string]bool{}
	for _, d := range devs {
		vg, ok := dmVGPart(d.Name)
		if !ok {
			continue
		}
		lvm := strings.HasPrefix(d.UUID, "LVM-")
		if prev, seen := ours[vg]; seen {
			lvm = lvm && prev
		}
		ours[vg] = lvm
	}
	var out []string
	for vg, lvm := range ours {
		if q, ok := regexQuote(vg); lvm && ok {
			out = append(out, "r|^/dev/mapper/"+q+"-[^-]|")
		}
	}
	slices.Sort(out)
	return out
}

// dmVGPart returns the VG part of a device-mapper name as LVM writes it,
// "VG-LV" with hyphens in either doubled: what comes before the first
// single hyphen. It returns false for a name with none, or with nothing
// on either side of it.
func dmVGPart(name string) (string, bool) {
	for i := 0; i < len(name); i++ {
		if name[i] != '-' {
			continue
		}
		if i+1 < len(name) && name[i+1] == '-' {
			i++
			continue
		}
		if i == 0 || i+1 == len(name) {
			return "", false
		}
		return name[:i], true
	}
	return "", false
}

// regexQuote writes a VG part of a device-mapper name (LVM's name
// characters, hyphens doubled) as a regular expression of LVM's
// (libdevmapper's regex) that matches it only. It returns false for any
// other character.
func regexQuote(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.' || c == '+':
			b.WriteString("[" + string(c) + "]")
		case nameChar(c):
			b.WriteByte(c)
		default:
			return "", false
		}
	}
	return b.String(), true
}

// defaultGlobalFilter is devices/global_filter as lvmconfig --typeconfig
// full prints it when the administrator left it at LVM's default, which
// accepts every device.
const defaultGlobalFilter = `["a|.*|"]`

// scanFilterConfig returns the --config argument that sets the
// global_filter to rejects.
func scanFilterConfig(rejects []string) string {
	items := make([]string, len(rejects))
	for i, r := range rejects {
		items[i] = `"` + r + `"`
	}
	return "devices/global_filter=[" + strings.Join(items, ",") + "]"
}

// scanSettingsArgs is the lvmconfig command line that prints the settings
// the filter depends on, as LVM would use them (defaults included).
var scanSettingsArgs = []string{"lvmconfig", "--typeconfig", "full", "devices/global_filter", "devices/scan_lvs", "devices/use_devicesfile"}

// scanSettings is what the filter depends on in LVM's configuration.
type scanSettings struct {
	read         bool   // the settings were read (or failed to be) for stamp
	stamp        string // the configuration files when they were read
	err          error  // why they could not be read or parsed
	globalFilter string // devices/global_filter as lvmconfig prints its value
	scanLVs      bool   // devices/scan_lvs
	devicesFile  bool   // devices/use_devicesfile
}

// parseScanSettings reads lvmconfig's answer to scanSettingsArgs, one
// "name=value" a line.
func parseScanSettings(out []byte) (scanSettings, error) {
	var (
		s    scanSettings
		seen = map[string]bool{}
	)
	flag := func(k, v string) (bool, error) {
		switch v {
		case "0":
			return false, nil
		case "1":
			return true, nil
		}
		return false, fmt.Errorf("lvmconfig: %s=%q", k, v)
	}
	for _, line := range bytes.Split(out, []byte("\n")) {
		k, v, ok := strings.Cut(strings.TrimSpace(string(line)), "=")
		if !ok {
			continue
		}
		var err error
		switch k {
		case "global_filter":
			s.globalFilter = v
		case "scan_lvs":
			s.scanLVs, err = flag(k, v)
		case "use_devicesfile":
			s.devicesFile, err = flag(k, v)
		default:
			continue
		}
		if err != nil {
			return scanSettings{}, err
		}
		seen[k] = true
	}
	if len(seen) != 3 {
		return scanSettings{}, fmt.Errorf("lvmconfig printed not all of global_filter, scan_lvs and use_devicesfile: %q", out)
	}
	return s, nil
}

// configStamp describes LVM's configuration files in dir (lvm.conf and
// lvmlocal.conf) by their size and modification time: a change to either
// changes it.
func configStamp(dir string) string {
	var b strings.Builder
	for _, name := range []string{"lvm.conf", "lvmlocal.conf"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			b.WriteString(name + ": none;")
			continue
		}
		fmt.Fprintf(&b, "%s: %d %d;", name, fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String()
}

// ReadScanSettings reads the LVM settings the scan filter depends on (see
// lvDeviceRejects and runFiltered) now, with lvmconfig, so that the first
// command with the filter does not pay that process. Commands read them
// themselves when LVM's configuration files change. It does nothing
// without LVDevices.
func (c *Client) ReadScanSettings(ctx context.Context) error {
	if c.LVDevices == nil {
		return nil
	}
	s := c.scanSettings(ctx)
	if s.err != nil {
		return fmt.Errorf("%s: %w", strings.Join(scanSettingsArgs, " "), s.err)
	}
	return nil
}

// scanSettings returns LVM's settings for the filter, read anew when the
// configuration files changed since they were last read.
func (c *Client) scanSettings(ctx context.Context) scanSettings {
	dir := c.ConfigDir
	if dir == "" {
		dir = DefaultConfigDir()
	}
	stamp := configStamp(dir)
	c.scanMu.Lock()
	defer c.scanMu.Unlock()
	if c.scan.read && c.scan.stamp == stamp {
		return c.scan
	}
	out, err := c.runProcess(ctx, scanSettingsArgs...)
	var s scanSettings
	if err == nil {
		s, err = parseScanSettings(out)
	}
	s.read, s.stamp, s.err = true, stamp, err
	c.scan = s
	return s
}

// scanFilter returns the --config argument for a command that spares LVM
// the look at every LV's device, or "" when there is none: no LVDevices,
// settings that could not be read, a global_filter of the administrator's,
// a devices file, devices/scan_lvs set, or no VG all of whose devices are
// LVM's.
func (c *Client) scanFilter(ctx context.Context) string {
	if c.LVDevices == nil {
		return ""
	}
	s := c.scanSettings(ctx)
	if s.err != nil || s.scanLVs || s.devicesFile || s.globalFilter != defaultGlobalFilter {
		return ""
	}
	devs, err := c.LVDevices()
	if err != nil {
		return ""
	}
	rejects := lvDeviceRejects(devs)
	if len(rejects) == 0 {
		return ""
	}
	return scanFilterConfig(rejects)
}
