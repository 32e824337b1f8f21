package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/snapfs/snapfs/checkpoint"
	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/retention"
)

// field is one key of a status file. The text file shows Text; the JSON
// object shows it as JSON says: a string, a number, a boolean or null.
type field struct {
	Key  string
	Text string
	JSON jsonKind
}

// jsonKind is how status.json shows a field's Text.
type jsonKind uint8

const (
	jsonString jsonKind = iota // Text, quoted
	jsonNumber                 // Text as it is
	jsonBool                   // true for "yes", false for anything else
	jsonNull                   // null, whatever the text file shows ("-")
)

func str(key, v string) field {
	if v == "" {
		return field{key, "-", jsonNull}
	}
	return field{key, v, jsonString}
}
func num(key string, v uint64) field {
	return field{key, strconv.FormatUint(v, 10), jsonNumber}
}
func count(key string, v int) field { return field{key, strconv.Itoa(v), jsonNumber} }
func yesno(key string, v bool) field {
	if v {
		return field{key, "yes", jsonBool}
	}
	return field{key, "no", jsonBool}
}
func pct(key string, p lvm.Percent) field {
	if !p.Valid {
		return field{key, "-", jsonNull}
	}
	return field{key, formatPercent(p), jsonNumber}
}
func timestamp(key string, t time.Time) field {
	if t.IsZero() {
		return field{key, "-", jsonNull}
	}
	return field{key, t.Format(time.RFC3339), jsonString}
}

// formatPercent prints a percentage with two decimals, as lvs does.
func formatPercent(p lvm.Percent) string {
	return string(appendPercent(make([]byte, 0, 8), p))
}

// appendPercent appends what formatPercent prints.
func appendPercent(b []byte, p lvm.Percent) []byte {
	h := p.Hundredths
	if h < 0 {
		// What "%d.%02d" makes of it, however odd.
		return fmt.Appendf(b, "%d.%02d", h/100, h%100)
	}
	b = strconv.AppendInt(b, h/100, 10)
	b = append(b, '.', byte('0'+h%100/10), byte('0'+h%10))
	return b
}

// renderText renders fields as "key: value" lines. The status files are
// rendered for their sizes at every lookup, so this allocates only the
// content, at its size.
func renderText(fields []field) []byte {
	n := 0
	for _, f := range fields {
		n += len(f.Key) + len(f.Text) + 3
	}
	b := make([]byte, 0, n)
	for _, f := range fields {
		b = append(b, f.Key...)
		b = append(b, ": "...)
		b = append(b, f.Text...)
		b = append(b, '\n')
	}
	return b
}

// renderJSON renders fields as one JSON object, keys in the same order as
// the text file, as encoding/json would write each key and value.
func renderJSON(fields []field) []byte {
	n := 3
	for _, f := range fields {
		n += len(f.Key) + len(f.Text) + 9 // quotes, colon, comma; "false" for "no"
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, f.Key)
		b = append(b, ':')
		switch f.JSON {
		case jsonString:
			b = appendJSONString(b, f.Text)
		case jsonNumber:
			b = append(b, f.Text...)
		case jsonBool:
			b = strconv.AppendBool(b, f.Text == "yes")
		default:
			b = append(b, "null"...)
		}
	}
	return append(b, "}\n"...)
}

// appendJSONString appends s as a JSON string, as encoding/json writes it:
// quoted as it is when it holds nothing to escape (printable ASCII but for
// the quote, the backslash and encoding/json's HTML escapes), else by
// encoding/json itself.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// domuText renders the domains using an LV as status shows them: "NAME STATE"
// joined by ", ", or "" when none.
func domuText(doms []Domain) string {
	parts := make([]string, len(doms))
	for i, d := range doms {
		parts[i] = d.Name + " " + d.State
	}
	return strings.Join(parts, ", ")
}

// domuFile renders the domu file: one "NAME STATE" line per domain.
func domuFile(doms []Domain) []byte {
	var b bytes.Buffer
	for _, d := range doms {
		b.WriteString(d.Name + " " + d.State + "\n")
	}
	return b.Bytes()
}

// Extras are what the status files show that neither the model nor
// device-mapper tells: what the guard measures and keeps. Each may be nil:
// the guard is off.
type Extras struct {
	// Rate returns how fast snapshot e's COW store has grown over the last
	// minute (bytes a second) and the seconds until it is full at that
	// rate, negative when it is not growing.
	Rate func(e *LVEntry) (fillRate, fullIn float64)
	// MinFree returns the bytes the guard keeps free in VG vg.
	MinFree func(vg string) uint64
	// Pool returns the use of thin pool pool of VG vg; ok is false when it
	// cannot be read (an inactive pool).
	Pool func(vg, pool string) (data, metadata lvm.Percent, ok bool)
}

func vgFields(v *VGEntry, x Extras) []field {
	g := v.VG
	fields := []field{
		str("name", g.Name),
		str("uuid", g.UUID),
		num("size", g.Size),
		num("free", g.Free),
		num("extent_size", g.ExtentSize),
		count("lvs", g.LVCount),
		count("snapshots", v.SnapshotCount),
		str("shared", g.LockType),
	}
	var minFree uint64
	if x.MinFree != nil {
		minFree = x.MinFree(g.Name)
	}
	fields = append(fields, num("min_free", minFree))
	for _, p := range v.Pools() {
		var data, meta lvm.Percent
		if x.Pool != nil {
			data, meta, _ = x.Pool(g.Name, p.LV.Name)
		}
		fields = append(fields, pct("pool."+p.LV.Name+".data", data), pct("pool."+p.LV.Name+".metadata", meta))
	}
	return fields
}

// LVPath is the LV's device path, which LVM leaves empty for hidden LVs (a
// merging snapshot).
func LVPath(e *LVEntry) string {
	if e.LV.Path != "" {
		return e.LV.Path
	}
	return "/dev/" + e.LV.VG + "/" + e.LV.Name
}

func originFields(e *LVEntry, open bool, doms []Domain) []field {
	return []field{
		str("name", e.LV.Name),
		str("vg", e.LV.VG),
		str("uuid", e.LV.UUID),
		str("path", LVPath(e)),
		timestamp("created", e.LV.Time),
		str("type", lvType(e)),
		yesno("active", e.LV.Attr.Active()),
		yesno("open", open),
		num("size", e.LV.Size),
		count("snapshots", len(e.Snaps)),
		str("domu", domuText(doms)),
	}
}

// lvType names an origin's volume type: the segment type LVM reports, or one
// derived from lv_attr when the report has none.
func lvType(e *LVEntry) string {
	if e.LV.SegType != "" {
		return e.LV.SegType
	}
	switch e.LV.Attr.TargetType {
	case 't':
		return "thin"
	case 'r':
		return "raid"
	case 'm':
		return "mirror"
	}
	return "linear"
}

// originName is what a snapshot's origin file shows: VG/ORIGIN.
func originName(e *LVEntry) string { return e.LV.VG + "/" + e.LV.Origin }

// SnapshotSizes returns the sizes a snapshot's status shows, in bytes: size
// (what the snapshot shows), cow_size (LVM's LSize) and chunk_size. The
// metrics file shows the same numbers, so both take them from here.
func SnapshotSizes(e *LVEntry) (size, cowSize, chunk uint64) {
	size, cowSize, chunk = e.LV.OriginSize, e.LV.Size, e.LV.ChunkSize
	if e.IsThin() {
		// A thin snapshot has no COW store of its own: it shows its own size,
		// and its allocation is what it has mapped in the pool.
		size = e.LV.Size
		if pool := e.Pool(); pool != nil {
			chunk = pool.LV.ChunkSize
		}
	}
	return size, cowSize, chunk
}

// SnapshotActive is what a snapshot's status shows as active, given its live
// status s: a device LVM has activated that neither is inactive nor waits to
// merge.
func SnapshotActive(e *LVEntry, s LiveStatus) bool {
	return s.State != StateInactive && s.State != StateMergePending && e.LV.Attr.Active()
}

func snapshotFields(e *LVEntry, s LiveStatus, open bool, doms []Domain, x Extras) []field {
	size, cowSize, chunk := SnapshotSizes(e)
	// Room for every key, so that the fields are allocated once.
	fields := append(make([]field, 0, 25),
		str("name", e.LV.Name),
		str("vg", e.LV.VG),
		str("origin", originName(e)),
		str("uuid", e.LV.UUID),
		str("path", LVPath(e)),
		timestamp("created", e.LV.Time),
		str("state", s.State),
		yesno("active", SnapshotActive(e, s)),
		yesno("open", open),
		num("size", size),
		num("cow_size", cowSize),
	)
	if s.Allocated.Valid {
		fields = append(fields, num("cow_used", s.CowUsed))
	} else {
		fields = append(fields, field{"cow_used", "-", jsonNull})
	}
	fields = append(fields, pct("allocated", s.Allocated), num("chunk_size", chunk))
	if s.State == StateMerging {
		fields = append(fields, pct("merge_progress", s.MergeProgress))
	}
	fields = append(fields, str("domu", domuText(doms)))
	var rate, fullIn float64 = 0, -1
	if x.Rate != nil {
		rate, fullIn = x.Rate(e)
	}
	fields = append(fields, num("fill_rate", uint64(math.Round(math.Max(rate, 0)))))
	if fullIn < 0 || math.IsInf(fullIn, 0) || math.IsNaN(fullIn) {
		fields = append(fields, field{"full_in", "-", jsonNull})
	} else {
		fields = append(fields, num("full_in", uint64(math.Round(fullIn))))
	}
	held, auto, expires := retention.ParseTags(e.LV.Tags)
	if !expires.IsZero() {
		expires = expires.UTC()
	}
	ckpt := ""
	for _, tag := range e.LV.Tags {
		if d, n, ok := checkpoint.ParseTag(tag); ok {
			ckpt = d + "/" + n
		}
	}
	return append(fields, yesno("held", held), timestamp("expires", expires), yesno("auto", auto), str("checkpoint", ckpt))
}

// allocatedFile renders the allocated file: Snap% with two decimals, or an
// empty line when LVM would show none (an inactive snapshot).
func allocatedFile(s LiveStatus) []byte {
	if !s.Allocated.Valid {
		return []byte("\n")
	}
	return append(appendPercent(make([]byte, 0, 8), s.Allocated), '\n')
}

// RenderVGFile renders file name (status or status.json) of VG v's
// directory.
func RenderVGFile(name string, v *VGEntry, x Extras) []byte {
	fields := vgFields(v, x)
	if name == "status.json" {
		return renderJSON(fields)
	}
	return renderText(fields)
}

// RenderLVFile renders file name of LV e's directory from the model, the
// live status of dm (nil: the report's), domains, the Xen domains using an
// LV, which it asks only for the files that show them, and x, the guard's.
func RenderLVFile(e *LVEntry, name string, dm DeviceMapper, domains func(*LVEntry) []Domain, x Extras) ([]byte, error) {
	if !e.IsSnapshot() {
		switch name {
		case "domu":
			return domuFile(domains(e)), nil
		case "status":
			return renderText(originFields(e, IsOpen(dm, e), domains(e))), nil
		case "status.json":
			return renderJSON(originFields(e, IsOpen(dm, e), domains(e))), nil
		}
		return nil, fmt.Errorf("origin file %q: %w", name, ErrGone)
	}
	switch name {
	case "origin":
		return []byte(originName(e) + "\n"), nil
	case "allocated":
		return allocatedFile(SnapshotStatus(dm, e)), nil
	case "state":
		return []byte(SnapshotStatus(dm, e).State + "\n"), nil
	case "domu":
		return domuFile(domains(e)), nil
	case "status":
		return renderText(snapshotFields(e, SnapshotStatus(dm, e), IsOpen(dm, e), domains(e), x)), nil
	case "status.json":
		return renderJSON(snapshotFields(e, SnapshotStatus(dm, e), IsOpen(dm, e), domains(e), x)), nil
	}
	return nil, fmt.Errorf("snapshot file %q: %w", name, ErrGone)
}
