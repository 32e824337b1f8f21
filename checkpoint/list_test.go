package checkpoint

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// write makes the file p, with its directories, for a test.
func write(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestListIgnoresLeftovers(t *testing.T) {
	half := `{"domain": "web", "na`
	tests := []struct {
		name string
		path string // under DIR
	}{
		{"temp record file", "web/good/.record-123"},
		{"half-created checkpoint", "web/.create-123/record.json"},
		{"half-removed checkpoint", "web/.remove-123/memory"},
		{"file in DIR", "README"},
		{"file in a domain", "web/notes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir := newStore(t)
			good := record("web", "good", Ready)
			if err := s.Create(good); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dir, tt.path), half)
			list, errs := s.List()
			if len(errs) != 0 || len(list) != 1 || list[0].Name != "good" {
				t.Errorf("List = %+v, %v; want only web/good", list, errs)
			}
			if err := s.Sweep(); err != nil {
				t.Fatal(err)
			}
			_, err := os.Lstat(filepath.Join(dir, tt.path))
			if leftover := strings.Contains(tt.path, "/."); leftover != errors.Is(err, fs.ErrNotExist) {
				t.Errorf("after Sweep, Lstat(%s) = %v; want it removed only if a write's leftover", tt.path, err)
			}
			if _, err := s.Get("web", "good"); err != nil {
				t.Errorf("Sweep lost the good record: %v", err)
			}
		})
	}
}

func TestListReportsUnreadable(t *testing.T) {
	tests := []struct {
		name    string
		path    string // under DIR; "" writes no file but makes the directory
		content string
		want    string // in the error
	}{
		{"half JSON", "db/bad/record.json", `{"domain": "db", "na`, "unexpected end"},
		{"no record", "db/bad/", "", "record.json"},
		{"another checkpoint", "db/bad/record.json", `{"domain":"db","name":"other","phase":"ready"}`, `"other"`},
		{"unknown phase", "db/bad/record.json", `{"domain":"db","name":"bad","phase":"half"}`, `unknown phase "half"`},
		{"record is a directory", "db/bad/record.json/", "", "record.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir := newStore(t)
			for _, r := range []Record{record("web", "a", Ready), record("zz", "b", Taking)} {
				if err := s.Create(r); err != nil {
					t.Fatal(err)
				}
			}
			p := filepath.Join(dir, tt.path)
			if strings.HasSuffix(tt.path, "/") {
				if err := os.MkdirAll(p, 0o700); err != nil {
					t.Fatal(err)
				}
			} else {
				write(t, p, tt.content)
			}
			list, errs := s.List()
			if len(list) != 2 || list[0].Domain != "web" || list[1].Domain != "zz" {
				t.Errorf("List = %+v, want web/a and zz/b", list)
			}
			if len(errs) != 1 || !strings.Contains(errs[0].Error(), "db/bad") || !strings.Contains(errs[0].Error(), tt.want) {
				t.Errorf("List errors = %v, want one about db/bad with %q", errs, tt.want)
			}
		})
	}
}

func TestMissing(t *testing.T) {
	s, _ := newStore(t)
	if err := s.Create(record("web", "a", Ready)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		do   func() error
	}{
		{"get", func() error { _, err := s.Get("web", "b"); return err }},
		{"get in another domain", func() error { _, err := s.Get("db", "a"); return err }},
		{"update", func() error { return s.Update(record("web", "b", Ready)) }},
		{"remove", func() error { return s.Remove("web", "b") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.do(); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("got %v, want fs.ErrNotExist", err)
			}
		})
	}
}

func TestRefusedRecords(t *testing.T) {
	tests := []struct {
		name string
		r    Record
	}{
		{"domain ..", Record{Domain: "..", Name: "a", Phase: Ready}},
		{"domain with /", Record{Domain: "a/b", Name: "a", Phase: Ready}},
		{"name with /", Record{Domain: "web", Name: "../../x", Phase: Ready}},
		{"name starting with .", Record{Domain: "web", Name: ".record-x", Phase: Ready}},
		{"empty name", Record{Domain: "web", Phase: Ready}},
		{"unknown phase", Record{Domain: "web", Name: "a", Phase: "done"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir := newStore(t)
			if err := s.Create(tt.r); err == nil {
				t.Error("Create succeeded")
			}
			if err := s.Update(tt.r); err == nil {
				t.Error("Update succeeded")
			}
			if _, err := os.Lstat(filepath.Dir(dir)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("something was made: %v", err)
			}
		})
	}
}

func TestModes(t *testing.T) {
	s, dir := newStore(t)
	if err := s.Create(record("web", "a", Ready)); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path string
		want fs.FileMode
	}{
		{dir, fs.ModeDir | 0o700},
		{filepath.Join(dir, "web"), fs.ModeDir | 0o700},
		{s.Dir("web", "a"), fs.ModeDir | 0o700},
		{filepath.Join(s.Dir("web", "a"), "record.json"), 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			fi, err := os.Stat(tt.path)
			if err != nil || fi.Mode() != tt.want {
				t.Errorf("Stat = %v, %v; want mode %v", fi.Mode(), err, tt.want)
			}
		})
	}
	if got, want := s.MemoryPath("web", "a"), filepath.Join(dir, "web", "a", "memory"); got != want {
		t.Errorf("MemoryPath = %q, want %q", got, want)
	}
}

// TestRecordFormat pins the JSON a previous snapfs wrote: the next one must
// read it.
func TestRecordFormat(t *testing.T) {
	s, dir := newStore(t)
	write(t, filepath.Join(dir, "web", "a", "record.json"), `{"domain": "web", "name": "a",
		"created": "2026-05-10T12:00:00Z", "memory": true, "phase": "reverting",
		"disks": [{"vg": "vg", "origin": "root", "snapshot": "root.a"}], "pid": 12}`)
	got, err := s.Get("web", "a")
	want := Record{Domain: "web", Name: "a", Created: created, Memory: true, Phase: Reverting,
		Disks: []Disk{{VG: "vg", Origin: "root", Snapshot: "root.a"}}, PID: 12}
	if err != nil || !got.Created.Equal(want.Created) {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	got.Created = want.Created
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Get = %+v, want %+v", got, want)
	}
}
