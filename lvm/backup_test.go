package lvm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testdata/backup holds the metadata backups real LVM wrote after each step
// of record-backup.sh, with vg_seqno and /dev/mapper at that moment.
var backupDir = filepath.Join("..", "testdata", "backup")

func readStep(t *testing.T, step string) *Backup {
	t.Helper()
	f, err := os.Open(filepath.Join(backupDir, step+".vg"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := ParseBackup(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseBackup(t *testing.T) {
	steps := []struct{ step, lvs string }{
		{"1-origin", "o"},
		{"2-snapshot", "o s1 snapshot0"},
		{"3-second-snapshot", "o s-2 s1 snapshot0 snapshot1"},
		{"4-removed", "o s-2 snapshot1"},
		{"5-renamed", "o s3 snapshot1"},
		{"6-extended", "o s3 snapshot1"},
		{"7-tagged", "o s3 snapshot1"},
		{"8-deactivated", "o s3 snapshot1"},
	}
	var header string
	for _, s := range steps {
		b := readStep(t, s.step)
		seqno, err := os.ReadFile(filepath.Join(backupDir, s.step+".seqno"))
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := strconv.Atoi(strings.TrimSpace(string(seqno))); b.Seqno != want || b.VG != "vg" {
			t.Errorf("%s: VG %q seqno %d, vgs said %d", s.step, b.VG, b.Seqno, want)
		}
		var names []string
		for _, lv := range b.LVs {
			names = append(names, lv.Name)
			if !strings.HasPrefix(lv.Text, "\t\t"+lv.Name+" {\n") || !strings.HasSuffix(lv.Text, "\t\t}\n") {
				t.Errorf("%s: section of %s: %q", s.step, lv.Name, lv.Text)
			}
		}
		if got := strings.Join(slices.Sorted(slices.Values(names)), " "); got != s.lvs {
			t.Errorf("%s: LVs %q, want %q", s.step, got, s.lvs)
		}
		// No step changes the VG's own metadata.
		if header == "" {
			header = b.Header
			if !strings.Contains(header, "physical_volumes {") || strings.Contains(header, "seqno") || strings.Contains(header, "logical_volumes") {
				t.Errorf("header: %q", header)
			}
		} else if b.Header != header {
			t.Errorf("%s: header changed:\n%s", s.step, b.Header)
		}
	}
	b := readStep(t, "3-second-snapshot")
	link := b.SnapshotLink("s-2")
	if link == nil || link.Origin != "o" || link.ChunkSize != 4096 || !link.Visible || b.ByName("s-2").Visible {
		t.Errorf("s-2: link %+v, cow %+v", link, b.ByName("s-2"))
	}
}

// A snapshot made read-only (lvcreate -p r) has no WRITE in its status.
func TestBackupSnapshotReadOnly(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(backupDir, "3-second-snapshot.vg"))
	if err != nil {
		t.Fatal(err)
	}
	section := "\t\ts-2 {\n\t\t\tid = \"1bGWTI-V1L2-bZI7-h5bY-J1LH-LGEg-G7ItJi\"\n\t\t\tstatus = [\"READ\", \"WRITE\"]"
	if !strings.Contains(string(data), section) {
		t.Fatalf("the recorded backup lacks %q", section)
	}
	ro := strings.Replace(string(data), section, strings.Replace(section, `, "WRITE"`, "", 1), 1)
	b, err := ParseBackup(strings.NewReader(ro))
	if err != nil {
		t.Fatal(err)
	}
	rw := readStep(t, "3-second-snapshot")
	for _, c := range []struct {
		b    *Backup
		want bool
	}{{rw, true}, {b, false}} {
		s, err := c.b.Snapshot("s-2")
		if err != nil || s.Writable != c.want {
			t.Errorf("writable %v (%v), want %v", s.Writable, err, c.want)
		}
	}
}

func TestReadBackupSnapshot(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(backupDir, "3-second-snapshot.vg"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "vg"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := ReadBackupSnapshot(dir, "vg", "s-2")
	if err != nil {
		t.Fatal(err)
	}
	cow := readStep(t, "3-second-snapshot").ByName("s-2")
	want := BackupSnapshot{UUID: cow.UUID, Origin: "o", Writable: true, Created: cow.Created, ChunkSize: 4096}
	if s != want || s.Created.Before(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("got %+v, want %+v", s, want)
	}
	for _, name := range []string{"o", "snapshot0", "nosuch"} {
		if _, err := ReadBackupSnapshot(dir, "vg", name); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s is no COW snapshot, yet: %v", name, err)
		}
	}
	if _, err := ReadBackupSnapshot(dir, "other", "s-2"); err == nil {
		t.Error("a VG without a backup")
	}
}

func TestParseBackupRefusesBroken(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(backupDir, "2-snapshot.vg"))
	if err != nil {
		t.Fatal(err)
	}
	full := string(data)
	for name, text := range map[string]string{
		"cut short":  full[:len(full)/2],
		"no seqno":   strings.Replace(full, "\tseqno = ", "\tnoseq = ", 1),
		"two VGs":    full + "vg2 {\n\tseqno = 1\n}\n",
		"extra }":    full + "}\n",
		"nothing":    "",
		"LV sans id": strings.Replace(full, "\t\t\tid = ", "\t\t\tidx = ", 2),
	} {
		if _, err := ParseBackup(strings.NewReader(text)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// bigBackup is the metadata backup of a VG of n origins, each with one COW
// snapshot, made from the sections of testdata/backup/2-snapshot.vg: the
// size of the bench's VG of 1,000 LVs at n = 500.
func bigBackup(t testing.TB, n int) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(backupDir, "2-snapshot.vg"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	start := strings.Index(text, "\t\to {\n")
	end := strings.LastIndex(text, "\t}\n\n}")
	if start < 0 || end < 0 {
		t.Fatal("2-snapshot.vg: no logical_volumes")
	}
	sections := text[start:end]
	var b strings.Builder
	b.WriteString(text[:start])
	for i := range n {
		s := strings.NewReplacer(`"o"`, fmt.Sprintf(`"o%d"`, i), "\to {", fmt.Sprintf("\to%d {", i),
			`"s1"`, fmt.Sprintf(`"s%d"`, i), "\ts1 {", fmt.Sprintf("\ts%d {", i),
			"snapshot0 {", fmt.Sprintf("snapshot%d {", i)).Replace(sections)
		// Every LV its own UUID: the last six characters numbered.
		k := 0
		s = regexp.MustCompile(`id = "([^"]{32})[^"]{6}"`).ReplaceAllStringFunc(s, func(id string) string {
			k++
			return fmt.Sprintf(`%s%06d"`, id[:len(id)-7], 3*i+k)
		})
		b.WriteString(s)
	}
	b.WriteString(text[end:])
	return []byte(b.String())
}

func TestBigBackup(t *testing.T) {
	b, err := ParseBackup(bytes.NewReader(bigBackup(t, 500)))
	if err != nil {
		t.Fatal(err)
	}
	if len(b.LVs) != 1500 {
		t.Fatalf("%d LVs, want 1500", len(b.LVs))
	}
	s, err := b.Snapshot("s499")
	if err != nil || s.Origin != "o499" || s.ChunkSize != 4096 || !s.Writable {
		t.Errorf("s499: %+v, %v", s, err)
	}
}

func BenchmarkParseBackup1000LVs(b *testing.B) {
	data := bigBackup(b, 500)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParseBackup(bytes.NewReader(data)); err != nil {
			b.Fatal(err)
		}
	}
}
