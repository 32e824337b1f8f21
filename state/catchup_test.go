package state

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/snapfs/snapfs/lvm"
)

// The steps of testdata/backup (record-backup.sh): the metadata backups
// real LVM wrote after each change to VG vg, and /dev/mapper then.
func backupStep(t *testing.T, step string) (*lvm.Backup, []string) {
	t.Helper()
	dir := filepath.Join("..", "testdata", "backup")
	f, err := os.Open(filepath.Join(dir, step+".vg"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := lvm.ParseBackup(f)
	if err != nil {
		t.Fatal(err)
	}
	dm, err := os.ReadFile(filepath.Join(dir, step+".dm"))
	if err != nil {
		t.Fatal(err)
	}
	return b, strings.Fields(string(dm))
}

// backupReport is the report LVM would give of the origin o and the snapshots
// of backup b, all active.
func backupReport(t *testing.T, b *lvm.Backup) *lvm.Report {
	t.Helper()
	r := &lvm.Report{VGs: []lvm.VG{{Name: "vg", Seqno: b.Seqno}}}
	for _, bl := range b.LVs {
		if bl.Origin != "" {
			continue
		}
		lv := lvm.LV{Name: bl.Name, VG: "vg", UUID: bl.UUID}
		attr := "-wi-a-----"
		if link := b.SnapshotLink(bl.Name); link != nil {
			attr, lv.Origin = "swi-a-s---", link.Origin
		} else if slicesAny(b, func(l *lvm.BackupLV) bool { return l.Origin == bl.Name }) {
			attr = "owi-a-s---"
		}
		var err error
		if lv.Attr, err = lvm.ParseAttr(attr); err != nil {
			t.Fatal(err)
		}
		r.LVs = append(r.LVs, lv)
	}
	return r
}

func slicesAny(b *lvm.Backup, pred func(*lvm.BackupLV) bool) bool {
	for _, l := range b.LVs {
		if pred(l) {
			return true
		}
	}
	return false
}

// describeFromBackup stands in for device-mapper.
func describeFromBackup(calls *[]string) describeFunc {
	return func(vg string, origin *lvm.LV, cow string, b *lvm.Backup) (lvm.LV, error) {
		*calls = append(*calls, cow)
		lv := lvm.LV{Name: cow, VG: vg, UUID: b.ByName(cow).UUID, Origin: origin.Name, Size: 4 << 20}
		var err error
		lv.Attr, err = lvm.ParseAttr("swi-a-s---")
		return lv, err
	}
}

func names(r *lvm.Report) string {
	var n []string
	for _, lv := range r.LVs {
		n = append(n, lv.Name+":"+lv.Attr.String()[:1])
	}
	sort.Strings(n)
	return strings.Join(n, " ")
}

// Snapshots taken and removed by hand bring the model up to date; any other
// change to the metadata, or to the devices, does not.
func TestCatchUpReport(t *testing.T) {
	tests := []struct {
		from, to string
		want     string // the LVs after, or "" when it must give up
		describe []string
	}{
		{"1-origin", "2-snapshot", "o:o s1:s", []string{"s1"}},
		{"2-snapshot", "3-second-snapshot", "o:o s-2:s s1:s", []string{"s-2"}},
		{"3-second-snapshot", "4-removed", "o:o s-2:s", nil},
		{"2-snapshot", "4-removed", "o:o s-2:s", []string{"s-2"}},
		{"4-removed", "5-renamed", "", nil},
		{"5-renamed", "6-extended", "", nil},
		{"6-extended", "7-tagged", "o:o s3:s", nil}, // o's tags: t
		{"7-tagged", "8-deactivated", "", nil},      // same metadata, devices gone
	}
	for _, tc := range tests {
		t.Run(tc.from+"→"+tc.to, func(t *testing.T) {
			b0, _ := backupStep(t, tc.from)
			b1, dm1 := backupStep(t, tc.to)
			r := backupReport(t, b0)
			var calls []string
			next, err := catchUpReport(r, map[string]*lvm.Backup{"vg": b0}, map[string]*lvm.Backup{"vg": b1}, describeFromBackup(&calls))
			if err == nil {
				err = mapperMatches(next, dm1)
			}
			if tc.want == "" {
				t.Log(err)
				if !errors.Is(err, errCatchUp) {
					t.Errorf("caught up (%v), want to read LVM", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := names(next); got != tc.want {
				t.Errorf("LVs %q, want %q", got, tc.want)
			}
			if strings.Join(calls, ",") != strings.Join(tc.describe, ",") {
				t.Errorf("described %v, want %v", calls, tc.describe)
			}
			if got := names(r); got != names(backupReport(t, b0)) {
				t.Errorf("the old report changed: %s", got)
			}
			for _, lv := range next.LVs {
				want := ""
				if tc.to == "7-tagged" && lv.Name == "o" {
					want = "t"
				}
				if got := strings.Join(lv.Tags, ","); got != want {
					t.Errorf("LV %s has tags %q, want %q", lv.Name, got, want)
				}
			}
			for _, lv := range r.LVs {
				if lv.Tags != nil {
					t.Errorf("the old report's LV %s got tags %v", lv.Name, lv.Tags)
				}
			}
		})
	}
}

// A model that snapfs's own mkdir and rmdir updated already catches up with
// nothing to do.
func TestCatchUpAfterOwnChanges(t *testing.T) {
	b2, _ := backupStep(t, "2-snapshot")
	b4, dm4 := backupStep(t, "4-removed")
	r := backupReport(t, b4) // o and s-2: s1 removed, s-2 added by snapfs
	var calls []string
	next, err := catchUpReport(r, map[string]*lvm.Backup{"vg": b2}, map[string]*lvm.Backup{"vg": b4}, describeFromBackup(&calls))
	if err != nil {
		t.Fatal(err)
	}
	if err := mapperMatches(next, dm4); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 0 || names(next) != "o:o s-2:s" {
		t.Errorf("described %v, LVs %s", calls, names(next))
	}
}

func TestMapperMatches(t *testing.T) {
	b, dm := backupStep(t, "3-second-snapshot")
	r := backupReport(t, b)
	if err := mapperMatches(r, dm); err != nil {
		t.Fatal(err)
	}
	// Another VG's devices, whose name starts like vg's, do not count.
	if err := mapperMatches(r, append(dm, "vg--x-o", "vgx-o", "pv-a")); err != nil {
		t.Error(err)
	}
	for _, extra := range []string{"vg-new", "vg-o--x"} {
		if err := mapperMatches(r, append(dm, extra)); !errors.Is(err, errCatchUp) {
			t.Errorf("with %s: %v", extra, err)
		}
	}
	if err := mapperMatches(r, dm[1:]); !errors.Is(err, errCatchUp) {
		t.Errorf("without %s: %v", dm[0], err)
	}
}

// Only a change of an LV's own tags line is a change of tags; anything
// else in its section, a segment's tags included, is not.
func TestTagsChanged(t *testing.T) {
	const lv = "\t\to {\n\t\t\tid = \"x\"\n\t\t\tstatus = [\"READ\", \"WRITE\", \"VISIBLE\"]\n%s\t\t\tsegment_count = 1\n\n\t\t\tsegment1 {\n%s\t\t\t\ttype = \"striped\"\n\t\t\t}\n\t\t}\n"
	text := func(lvTags, segTags string) string { return fmt.Sprintf(lv, lvTags, segTags) }
	tests := []struct {
		name   string
		t0, t1 string
		want   string // the tags after, comma-separated; "-" when not a change of tags alone
	}{
		{"added", text("", ""), text("\t\t\ttags = [\"b\", \"a\"]\n", ""), "a,b"},
		{"removed", text("\t\t\ttags = [\"snapfs_hold\"]\n", ""), text("", ""), ""},
		{"one more", text("\t\t\ttags = [\"a\"]\n", ""), text("\t\t\ttags = [\"a\", \"snapfs_hold\"]\n", ""), "a,snapfs_hold"},
		{"a segment's", text("", ""), text("", "\t\t\t\ttags = [\"s\"]\n"), "-"},
		{"status too", text("", ""), strings.Replace(text("\t\t\ttags = [\"a\"]\n", ""), `"WRITE", `, "", 1), "-"},
		{"unreadable", text("", ""), text("\t\t\ttags = [a]\n", ""), "-"},
		{"same", text("\t\t\ttags = [\"a\"]\n", ""), text("\t\t\ttags = [\"a\"]\n", ""), "a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tags, ok := tagsChanged(tc.t0, tc.t1)
			got := strings.Join(tags, ",")
			if !ok {
				got = "-"
			}
			if got != tc.want {
				t.Errorf("tagsChanged = %q, want %q", got, tc.want)
			}
		})
	}
}
