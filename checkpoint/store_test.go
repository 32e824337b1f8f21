package checkpoint

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var created = time.Date(2026, 5, 10, 12, 0, 0, 0, time.UTC)

func record(domain, name, phase string) Record {
	return Record{
		Domain: domain, Name: name, Created: created, Memory: true, Phase: phase, PID: 4242,
		Disks: []Disk{
			{VG: "vg", Origin: domain + "-disk", Snapshot: SnapshotName(domain+"-disk", name)},
			{VG: "vg2", Origin: "swap", Snapshot: SnapshotName("swap", name)},
		},
	}
}

// newStore returns a store whose DIR does not exist yet, under a test
// directory, so that Create has to make it.
func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "var", "checkpoints")
	return New(dir), dir
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		records []Record
	}{
		{"one", []Record{record("web", "before", Taking)}},
		{"no disks, no memory", []Record{{Domain: "web", Name: "mem", Created: created, Phase: Ready, Disks: []Disk{}}}},
		{"several domains, sorted", []Record{
			record("web", "b", Ready), record("db", "z", Taking), record("web", "a", Reverting),
			record("dömäin #1", "x.y_z+1", Ready),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, dir := newStore(t)
			for _, r := range tt.records {
				if err := s.Create(r); err != nil {
					t.Fatalf("Create: %v", err)
				}
				got, err := s.Get(r.Domain, r.Name)
				if err != nil || !reflect.DeepEqual(got, r) {
					t.Fatalf("Get after Create = %+v, %v; want %+v", got, err, r)
				}
				r.Phase, r.Memory, r.PID = Reverting, false, 7
				if err := s.Update(r); err != nil {
					t.Fatalf("Update: %v", err)
				}
				if got, err := s.Get(r.Domain, r.Name); err != nil || !reflect.DeepEqual(got, r) {
					t.Fatalf("Get after Update = %+v, %v; want %+v", got, err, r)
				}
			}
			list, errs := s.List()
			if len(errs) > 0 {
				t.Fatalf("List errors: %v", errs)
			}
			var keys []string
			for _, r := range list {
				if r.Phase != Reverting {
					t.Errorf("List: %s/%s has phase %q, want the updated %q", r.Domain, r.Name, r.Phase, Reverting)
				}
				keys = append(keys, r.Domain+"/"+r.Name)
			}
			var want []string
			for _, r := range tt.records {
				want = append(want, r.Domain+"/"+r.Name)
			}
			slices.Sort(want)
			if !reflect.DeepEqual(keys, want) {
				t.Errorf("List = %q, want %q", keys, want)
			}
			for _, r := range tt.records {
				if err := s.Remove(r.Domain, r.Name); err != nil {
					t.Fatalf("Remove: %v", err)
				}
				if _, err := s.Get(r.Domain, r.Name); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("Get after Remove: %v, want fs.ErrNotExist", err)
				}
			}
			if list, errs := s.List(); len(list) != 0 || len(errs) != 0 {
				t.Errorf("List after Remove = %v, %v; want nothing", list, errs)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("DIR after Remove holds %v, want nothing (no domain directory left)", entries)
			}
		})
	}
}

func TestCreateExistingKeepsOldRecord(t *testing.T) {
	tests := []struct {
		name  string
		again Record
	}{
		{"same record", record("web", "cp", Ready)},
		{"other content", Record{Domain: "web", Name: "cp", Phase: Taking, PID: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newStore(t)
			old := record("web", "cp", Ready)
			if err := s.Create(old); err != nil {
				t.Fatal(err)
			}
			if err := s.Create(tt.again); !errors.Is(err, fs.ErrExist) {
				t.Fatalf("second Create: %v, want fs.ErrExist", err)
			}
			if got, err := s.Get("web", "cp"); err != nil || !reflect.DeepEqual(got, old) {
				t.Errorf("Get = %+v, %v; want the old %+v", got, err, old)
			}
			assertNoTemp(t, s.dir)
		})
	}
}

func TestConcurrentCreateOneWins(t *testing.T) {
	s, _ := newStore(t)
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Create(record("web", "cp", Taking))
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, fs.ErrExist):
			t.Errorf("Create: %v, want nil or fs.ErrExist", err)
		}
	}
	if wins != 1 {
		t.Errorf("%d Creates succeeded, want 1", wins)
	}
}

// assertNoTemp fails if anything under dir has a name starting with '.':
// a temporary file or directory left by a write.
func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Errorf("walking %s: %v", p, err)
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			t.Errorf("temporary entry left: %s", p)
		}
		return nil
	})
}

func TestWritesLeaveNoTemp(t *testing.T) {
	steps := []struct {
		name string
		do   func(*Store) error
	}{
		{"create", func(s *Store) error { return s.Create(record("web", "a", Taking)) }},
		{"update", func(s *Store) error { return s.Update(record("web", "a", Ready)) }},
		{"failed create", func(s *Store) error {
			if err := s.Create(record("web", "a", Taking)); !errors.Is(err, fs.ErrExist) {
				return err
			}
			return nil
		}},
		{"create another", func(s *Store) error { return s.Create(record("web", "b", Taking)) }},
		{"remove", func(s *Store) error { return s.Remove("web", "b") }},
	}
	s, _ := newStore(t)
	for _, st := range steps {
		if err := st.do(s); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		assertNoTemp(t, s.dir)
	}
}
