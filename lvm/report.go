package lvm

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// The fields of each subreport of `lvm fullreport`. A subreport may only
// hold fields of its own type (or of a type it contains: an LV row can show
// its VG's fields), or LVM refuses with "Subreport of type ... contains
// columns which lead to change of report type" (tools/reporter.c:
// _get_final_report_type). That is why chunk_size, a segment field, comes
// from the seg subreport, one row per segment, joined to the LV by lv_uuid.
var (
	reportVGFields = []string{
		"vg_name", "vg_uuid", "vg_size", "vg_free", "vg_extent_size", "lv_count", "snap_count",
		"vg_seqno", "vg_lock_type",
	}
	reportLVFields = []string{
		"vg_name", "lv_name", "lv_uuid", "lv_path", "lv_dm_path", "lv_attr",
		"origin", "pool_lv", "lv_size", "origin_size", "snap_percent", "data_percent",
		"lv_time", "lv_kernel_major", "lv_kernel_minor", "lv_skip_activation",
		"lv_layout", "lv_role", "lv_merging", "lv_merge_failed", "lv_snapshot_invalid",
		"lv_device_open", "lv_tags",
	}
	reportSegFields = []string{"lv_uuid", "seg_start", "segtype", "chunk_size"}
	// The pv and pvseg subreports cannot be switched off (an empty -o is
	// refused), so they get one small field each.
	// pv_name: where a host reads the metadata seqno of a shared VG.
	reportPVFields    = []string{"pv_uuid", "pv_name"}
	reportPVSegFields = []string{"pvseg_start"}
)

// reportTimeFormat is LVM's DEFAULT_TIME_FORMAT (lib/config/defaults.h),
// the strftime format of lv_time. Report sets it explicitly so that a
// report/time_format in lvm.conf cannot change what ParseReport reads.
const (
	reportTimeFormat = "%Y-%m-%d %T %z"
	reportTimeLayout = "2006-01-02 15:04:05 -0700"
)

// reportConfig pins the report settings of lvm.conf that would change the
// output ParseReport reads: brackets around hidden LVs, the time format,
// empty columns, which compact_output would drop, and the separator of
// list fields (lv_layout, lv_role, lv_tags). LVM's default separator is
// already ","; pinning it keeps a local list_item_separator from making
// "snapfs_hold;snapfs_auto" read as one tag.
var reportConfig = `report { mark_hidden_devices=1 compact_output=0 time_format="` + reportTimeFormat +
	`" list_item_separator="` + reportListSeparator + `" }`

// reportListSeparator separates the items of a list field. No item can
// contain it: tags may not hold a comma (validate_tag), nor may LV names,
// and layouts and roles are LVM's own words.
const reportListSeparator = ","

// reportArgs returns the command line of Report, after the binary: one
// `lvm fullreport` for the VGs named, or all VGs when none is.
//
//   - -a reports hidden LVs too: internal ones and merging COW snapshots.
//   - --reportformat json prints every value as a string; --units b and
//     --nosuffix make sizes plain byte counts; --binary prints binary
//     fields as 0/1 (and -1 when unknown).
//   - --configreport NAME -o FIELDS sets the fields of one subreport.
func reportArgs(vgs []string) []string {
	args := []string{
		"fullreport", "-a",
		"--reportformat", "json", "--units", "b", "--nosuffix", "--binary",
		"--config", reportConfig,
		"--configreport", "vg", "-o", strings.Join(reportVGFields, ","),
		"--configreport", "lv", "-o", strings.Join(reportLVFields, ","),
		"--configreport", "seg", "-o", strings.Join(reportSegFields, ","),
		"--configreport", "pv", "-o", strings.Join(reportPVFields, ","),
		"--configreport", "pvseg", "-o", strings.Join(reportPVSegFields, ","),
	}
	return append(args, vgs...)
}

// fullReport is the JSON document of `lvm fullreport --reportformat json`:
// one element of "report" per VG (and one for orphan PVs, without "vg"),
// each with its subreports; all values are strings. From lvm 2.03.26 a
// top-level "log" array follows, which ParseReport ignores.
type fullReport struct {
	Report []struct {
		VG  []map[string]string `json:"vg"`
		LV  []map[string]string `json:"lv"`
		Seg []map[string]string `json:"seg"`
		PV  []map[string]string `json:"pv"`
	} `json:"report"`
}

// ParseReport reads the JSON output of the command Report runs (also that of
// `lvs -a --reportformat json` with the same -o fields) into a Report.
func ParseReport(r io.Reader) (*Report, error) {
	var doc fullReport
	dec := json.NewDecoder(r)
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("lvm report: %w", err)
	}
	rep := &Report{}
	for _, part := range doc.Report {
		for _, row := range part.VG {
			vg, err := parseVGRow(row)
			if err != nil {
				return nil, err
			}
			rep.VGs = append(rep.VGs, vg)
		}
		vgName := ""
		if len(part.VG) > 0 {
			vgName = part.VG[0]["vg_name"]
			vg := &rep.VGs[len(rep.VGs)-1]
			for _, row := range part.PV {
				if name := row["pv_name"]; name != "" {
					vg.PVs = append(vg.PVs, name)
				}
			}
		}
		first := len(rep.LVs)
		seen := make(map[string]int)
		for _, row := range part.LV {
			lv, err := parseLVRow(row, vgName)
			if err != nil {
				return nil, err
			}
			if _, dup := seen[lv.UUID]; dup {
				continue
			}
			seen[lv.UUID] = len(rep.LVs)
			rep.LVs = append(rep.LVs, lv)
		}
		for _, row := range part.Seg {
			i, ok := seen[row["lv_uuid"]]
			if !ok || i < first {
				continue
			}
			if err := addSegRow(&rep.LVs[i], row); err != nil {
				return nil, err
			}
		}
	}
	return rep, nil
}

func parseVGRow(row map[string]string) (VG, error) {
	p := fieldParser{what: "vg " + row["vg_name"], row: row}
	vg := VG{
		Name:       row["vg_name"],
		UUID:       row["vg_uuid"],
		Size:       p.uint("vg_size"),
		Free:       p.uint("vg_free"),
		ExtentSize: p.uint("vg_extent_size"),
		LVCount:    p.int("lv_count"),
		SnapCount:  p.int("snap_count"),
		Seqno:      p.intOr("vg_seqno", 0),
		LockType:   row["vg_lock_type"],
	}
	if vg.LockType == "none" {
		vg.LockType = ""
	}
	if vg.Name == "" {
		p.fail("vg_name", "empty")
	}
	return vg, p.err
}

func parseLVRow(row map[string]string, vgName string) (LV, error) {
	name := row["lv_name"]
	hidden := false
	if len(name) > 2 && name[0] == '[' && name[len(name)-1] == ']' {
		name, hidden = name[1:len(name)-1], true
	}
	if v := row["vg_name"]; v != "" {
		vgName = v
	}
	p := fieldParser{what: "lv " + vgName + "/" + name, row: row}
	lv := LV{
		Name:            name,
		VG:              vgName,
		UUID:            row["lv_uuid"],
		Hidden:          hidden,
		Path:            row["lv_path"],
		DMPath:          row["lv_dm_path"],
		Attr:            p.attr("lv_attr"),
		Origin:          unbracket(row["origin"]),
		PoolLV:          unbracket(row["pool_lv"]),
		Size:            p.uint("lv_size"),
		OriginSize:      p.uint("origin_size"),
		SnapPercent:     p.percent("snap_percent"),
		DataPercent:     p.percent("data_percent"),
		Time:            p.time("lv_time"),
		KernelMajor:     p.intOr("lv_kernel_major", -1),
		KernelMinor:     p.intOr("lv_kernel_minor", -1),
		SkipActivation:  p.bool("lv_skip_activation"),
		Layout:          list(row["lv_layout"]),
		Role:            list(row["lv_role"]),
		Merging:         p.bool("lv_merging"),
		MergeFailed:     p.bool("lv_merge_failed"),
		SnapshotInvalid: p.bool("lv_snapshot_invalid"),
		DeviceOpen:      p.bool("lv_device_open"),
		Tags:            list(row["lv_tags"]),
	}
	if lv.Name == "" || lv.UUID == "" {
		p.fail("lv_name", "LV without name or UUID")
	}
	return lv, p.err
}

func addSegRow(lv *LV, row map[string]string) error {
	p := fieldParser{what: "segment of lv " + lv.VG + "/" + lv.Name, row: row}
	start := p.uint("seg_start")
	chunk := p.uint("chunk_size")
	if p.err != nil {
		return p.err
	}
	lv.Segments++
	if start == 0 || lv.SegType == "" {
		lv.SegType = row["segtype"]
	}
	if lv.ChunkSize == 0 {
		lv.ChunkSize = chunk
	}
	return nil
}

// unbracket strips the brackets LVM puts around a hidden LV's name
// wherever it names one (origin and pool_lv too).
func unbracket(s string) string {
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		return s[1 : len(s)-1]
	}
	return s
}

// list splits a string-list field, which the json format prints
// separated by reportListSeparator. An empty or missing field is no items:
// a report made without the field (lv_tags in the recordings older than
// it) reads as one where the field is empty.
func list(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, reportListSeparator)
}

// fieldParser converts the string values of one report row and keeps the
// first error.
type fieldParser struct {
	what string
	row  map[string]string
	err  error
}

func (p *fieldParser) fail(field, why string) {
	if p.err == nil {
		p.err = fmt.Errorf("lvm report: %s: %s %q: %s", p.what, field, p.row[field], why)
	}
}

func (p *fieldParser) uint(field string) uint64 {
	s := p.row[field]
	if s == "" {
		return 0
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		p.fail(field, "not a byte count")
	}
	return n
}

func (p *fieldParser) int(field string) int { return p.intOr(field, 0) }

func (p *fieldParser) intOr(field string, empty int) int {
	s := p.row[field]
	if s == "" {
		return empty
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		p.fail(field, "not a number")
	}
	return n
}

// bool reads a binary field printed with --binary: "1" is set; "0", "-1"
// (unknown, e.g. lv_merge_failed of an inactive LV) and "" are not.
func (p *fieldParser) bool(field string) bool {
	switch p.row[field] {
	case "1":
		return true
	case "0", "-1", "":
		return false
	}
	p.fail(field, "not 0, 1 or -1")
	return false
}

func (p *fieldParser) percent(field string) Percent {
	pc, err := ParsePercent(p.row[field])
	if err != nil {
		p.fail(field, "not a percentage")
	}
	return pc
}

func (p *fieldParser) attr(field string) Attr {
	a, err := ParseAttr(p.row[field])
	if err != nil {
		p.fail(field, err.Error())
	}
	return a
}

// time reads lv_time in reportTimeFormat; a plain number is taken as Unix
// seconds (time_format "%s"). LVM prints nothing when it does not know the
// creation time.
func (p *fieldParser) time(field string) time.Time {
	s := p.row[field]
	if s == "" {
		return time.Time{}
	}
	if strings.Trim(s, "0123456789") == "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			p.fail(field, "not a time")
		}
		return time.Unix(n, 0)
	}
	t, err := time.Parse(reportTimeLayout, s)
	if err != nil {
		p.fail(field, "not a time in the format "+reportTimeFormat)
	}
	return t
}
