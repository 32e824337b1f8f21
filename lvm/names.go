package lvm

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// nameLen is LVM's NAME_LEN (lib/misc/lvm-string.h): a name and its
// terminating NUL fit in 128 bytes, and so does the device-mapper name
// "vg-lv" with room for a layer suffix.
const nameLen = 128

// reservedPrefixes and reservedSubstrings are the LV names LVM keeps for
// itself (lib/misc/lvm-string.c: _lvname_has_reserved_prefix,
// _lvname_has_reserved_component_string, _lvname_has_reserved_string).
var (
	reservedPrefixes   = []string{"pvmove", "snapshot"}
	reservedSubstrings = []string{
		"_cdata", "_cmeta", "_corig", "_cpool", "_cvol", "_wcorig",
		"_mimage", "_mlog", "_rimage", "_rmeta", "_tdata", "_tmeta",
		"_vdata", "_imeta", "_iorig", "_pmspare", "_vorigin",
	}
)

// ValidateName checks a new LV name lv in volume group vg exactly as
// lvcreate and lvrename do, so that a name LVM would reject is refused before
// any process is started. The error wraps ErrInvalidName and says why.
func ValidateName(vg, lv string) error {
	if err := validateName(lv); err != nil {
		return fmt.Errorf("logical volume name %q: %w", lv, err)
	}
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(lv, p) {
			return fmt.Errorf("logical volume name %q: names starting %q are reserved: %w", lv, p, ErrInvalidName)
		}
	}
	for _, s := range reservedSubstrings {
		if strings.Contains(lv, s) {
			return fmt.Errorf("logical volume name %q: names including %q are reserved: %w", lv, s, ErrInvalidName)
		}
	}
	if err := validateName(vg); err != nil {
		return fmt.Errorf("volume group name %q: %w", vg, err)
	}
	// LVM's metadata check (vg_validate) refuses an LV whose "vg/lv"
	// name, with room for a layer, would not fit NAME_LEN.
	if len(vg)+len(lv)+3 >= nameLen {
		return fmt.Errorf("logical volume name %q: %w: %q and %q together may not exceed %d characters",
			lv, ErrInvalidName, vg, lv, nameLen-4)
	}
	// LVM does not check the device-mapper names a snapshot needs: a COW
	// snapshot "vg-lv-cow" next to "vg-lv", an origin "vg-lv-real", with
	// hyphens doubled. lvcreate of a snapshot whose "-cow" name does not
	// fit DM_NAME_LEN fails after writing the new LV to the metadata, and
	// leaves it behind (testdata/lvm/errors/lvcreate-dm-name-too-long).
	// So the longest of these must fit; this is a few characters stricter
	// than LVM.
	if dm := DMName(vg, lv) + longestLayer; len(dm) >= dmNameLen {
		return fmt.Errorf("logical volume name %q: %w: device-mapper name %q would be longer than %d characters",
			lv, ErrInvalidName, dm, dmNameLen-1)
	}
	return nil
}

// longestLayer is the longest suffix LVM adds to the device-mapper name of
// a snapshot or an origin for the devices stacked under it (-cow, -real).
const longestLayer = "-real"

// validateName is LVM's validate_name (lib/misc/lvm-string.c): not empty,
// no leading hyphen, not "." or "..", only [A-Za-z0-9._+-], at most 127
// characters.
func validateName(n string) error {
	switch {
	case n == "":
		return fmt.Errorf("%w: empty", ErrInvalidName)
	case n[0] == '-':
		return fmt.Errorf("%w: may not start with a hyphen", ErrInvalidName)
	case n == "." || n == "..":
		return fmt.Errorf("%w: may not be %q", ErrInvalidName, n)
	}
	for i := 0; i < len(n); i++ {
		if !nameChar(n[i]) {
			return fmt.Errorf("%w: character %q is not allowed (only A-Z a-z 0-9 . _ + -)", ErrInvalidName, n[i])
		}
	}
	if len(n) >= nameLen {
		return fmt.Errorf("%w: longer than %d characters", ErrInvalidName, nameLen-1)
	}
	return nil
}

func nameChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '.' || c == '_' || c == '+' || c == '-'
}

// MaxTagLen is the longest tag ValidateTag accepts. LVM itself sets no
// bound (validate_tag has a FIXME about it); every tag is stored in the VG's
// metadata, which every LVM command reads, so snapfs keeps them short.
const MaxTagLen = 1024

// ValidateTag checks a tag as LVM's validate_tag (lib/misc/lvm-string.c)
// does for `lvchange --addtag` and `--deltag`: not empty, only
// [A-Za-z0-9._+/=!:&#-]. A comma is refused by LVM too, which is what lets
// the report print tags comma-separated. Stricter than LVM, it allows at
// most MaxTagLen characters and refuses a leading "@", which LVM strips
// (tag_arg in tools/lvmcmdline.c; "@" is no tag character, so the tag set
// would not be the one asked for), and a leading hyphen, so that a tag
// never reads as an option, as validateName does for names. The error wraps
// ErrInvalidTag, and so ErrInvalidArg.
func ValidateTag(tag string) error {
	if tag == "" {
		return fmt.Errorf("tag %q: empty: %w", tag, ErrInvalidTag)
	}
	if tag[0] == '-' {
		return fmt.Errorf("tag %q: may not start with a hyphen: %w", tag, ErrInvalidTag)
	}
	if len(tag) > MaxTagLen {
		return fmt.Errorf("tag %.20q...: longer than %d characters: %w", tag, MaxTagLen, ErrInvalidTag)
	}
	for i := 0; i < len(tag); i++ {
		if !tagChar(tag[i]) {
			return fmt.Errorf("tag %q: character %q is not allowed (only A-Z a-z 0-9 _ + . - / = ! : & #): %w",
				tag, tag[i], ErrInvalidTag)
		}
	}
	return nil
}

func tagChar(c byte) bool {
	return nameChar(c) || strings.IndexByte("/=!:&#", c) >= 0
}

// sizeUnits are the unit letters of LVM's --size (tools/lvmcmdline.c:
// _size_arg), case-insensitive, as powers of 1024 bytes; b is bytes and
// s is 512-byte sectors.
const sizeUnits = "kmgtpe"

// ValidateSize checks an LVM size as `lvextend --size +SIZE` and
// `lvcreate --size SIZE` take it: a positive decimal number, optionally with
// a fraction, and an optional unit letter bBsSkKmMgGtTpPeE (no unit means
// MiB). Unlike LVM it refuses signs, spaces, trailing text and the forms
// strtod would also read (hex, exponents). Bytes must be a multiple of 512.
// The error wraps ErrInvalidArg.
func ValidateSize(s string) error {
	_, err := parseSize(s)
	return err
}

// SizeBytes returns the number of bytes an LVM size stands for; LVM
// rounds it up to whole extents.
func SizeBytes(s string) (uint64, error) {
	sectors, err := parseSize(s)
	if err != nil {
		return 0, err
	}
	return uint64(sectors * 512), nil
}

// parseSize follows _size_arg and returns the size in sectors.
func parseSize(s string) (float64, error) {
	bad := func(why string) error {
		return fmt.Errorf("size %q: %s: %w", s, why, ErrInvalidArg)
	}
	if s == "" {
		return 0, bad("empty")
	}
	num := s
	unit := byte(0)
	if last := s[len(s)-1]; !isDigit(last) && last != '.' {
		unit = lower(last)
		num = s[:len(s)-1]
	}
	if !decimalNumber(num) {
		return 0, bad("not a number with an optional unit (e.g. 512M, 1.5G)")
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, bad(err.Error())
	}
	switch {
	case unit == 0:
		v *= 2048 // MiB in sectors
	case unit == 's':
	case unit == 'b':
		if b := uint64(v); b%512 != 0 {
			return 0, bad("bytes must be a multiple of 512")
		}
		v /= 512
	case strings.IndexByte(sizeUnits, unit) >= 0:
		for i := strings.IndexByte(sizeUnits, unit); i > 0; i-- {
			v *= 1024
		}
		v *= 2
	default:
		return 0, bad(fmt.Sprintf("unknown unit %q (use one of bBsSkKmMgGtTpPeE)", s[len(s)-1]))
	}
	if v >= float64(math.MaxUint64>>9) {
		return 0, bad("too big (>=16EiB)")
	}
	if v < 1 {
		return 0, bad("must be at least one sector")
	}
	return v, nil
}

// decimalNumber matches digits with an optional fraction: "1", "1.5", ".5", "1.".
func decimalNumber(s string) bool {
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch {
		case isDigit(s[i]):
			digits++
		case s[i] == '.' && !dot:
			dot = true
		default:
			return false
		}
	}
	return digits > 0
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// percentBases are the bases lvcreate takes in --extents N%BASE
// (tools/lvmcmdline.c: _get_percent_arg, case-insensitive, with their
// abbreviations); lvcreate refuses %LV (tools/lvcreate.c).
var percentBases = map[string]string{
	"V": "VG", "VG": "VG",
	"P": "PVS", "PV": "PVS", "PVS": "PVS",
	"F": "FREE", "FR": "FREE", "FREE": "FREE",
	"O": "ORIGIN", "OR": "ORIGIN", "ORIGIN": "ORIGIN",
}

// ParseSizeSpec reads a snapshot size as the configuration writes it: a
// size in LVM syntax ("2G", "512M", "100" = 100 MiB) becomes --size, and a
// percentage of a base ("20%ORIGIN", "100%FREE", "10%VG", "50%PVS") becomes
// --extents. Errors wrap ErrInvalidArg.
func ParseSizeSpec(s string) (SizeSpec, error) {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		if err := ValidateSize(s); err != nil {
			return SizeSpec{}, err
		}
		return SizeSpec{Size: s}, nil
	}
	bad := func(why string) error {
		return fmt.Errorf("extents %q: %s: %w", s, why, ErrInvalidArg)
	}
	num, base := s[:i], s[i+1:]
	if num == "" || strings.Trim(num, "0123456789") != "" {
		return SizeSpec{}, bad("the percentage must be a whole number, e.g. 20%ORIGIN")
	}
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil || n == 0 || n >= math.MaxUint32 {
		return SizeSpec{}, bad("the percentage must be between 1 and 4294967294")
	}
	if _, ok := percentBases[strings.ToUpper(base)]; !ok {
		return SizeSpec{}, bad("unknown base (use %ORIGIN, %FREE, %VG or %PVS)")
	}
	return SizeSpec{Extents: s}, nil
}

// validateExtents checks an lvcreate --extents value: a number of extents,
// or a percentage of a base.
func validateExtents(s string) error {
	if s != "" && strings.Trim(s, "0123456789") == "" {
		if n, err := strconv.ParseUint(s, 10, 32); err != nil || n == 0 {
			return fmt.Errorf("extents %q: want 1 to 4294967295 extents: %w", s, ErrInvalidArg)
		}
		return nil
	}
	spec, err := ParseSizeSpec(s)
	if err != nil {
		return err
	}
	if spec.Extents == "" {
		return fmt.Errorf("extents %q: want a number of extents or a percentage such as 20%%ORIGIN: %w", s, ErrInvalidArg)
	}
	return nil
}
