package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
)

const (
	recordFile = "record.json"
	memoryFile = "memory"

	// Names of what is being written start with '.', which no domain
	// directory's checkpoint name does (CheckName), so List never takes
	// them for checkpoints. A record is written as a temporary file in its
	// checkpoint's directory and renamed into place; a checkpoint is created
	// as a temporary directory in its domain's directory, whole with its
	// record, and renamed into place; and removed by renaming it out of
	// place first, so that it appears and disappears at once.
	tempRecordPrefix = ".record-"
	tempCreatePrefix = ".create-"
	tempRemovePrefix = ".remove-"
)

// Store is the set of checkpoint records under one directory, DIR
// (checkpoint_dir): DIR/DOMAIN/NAME/ holds record.json and the memory image,
// memory. Directories are made 0700: a memory image holds the guest's
// memory, secrets included.
//
// One snapfs at a time uses a DIR.
type Store struct {
	dir string

	// mu serialises the writes to the files (Create, Update, Remove,
	// Sweep), so that a sweep never removes what another write of this
	// process is making, and guards nothing else: readers take no lock,
	// because every change appears by one rename.
	mu sync.Mutex
}

// New returns the store of records under dir (checkpoint_dir). Nothing is
// made on disk until the first Create.
func New(dir string) *Store {
	return &Store{dir: dir}
}

// Dir is DIR/DOMAIN/NAME, the directory of checkpoint name of domain.
func (s *Store) Dir(domain, name string) string {
	return filepath.Join(s.dir, domain, name)
}

// MemoryPath is DIR/DOMAIN/NAME/memory, where the memory image is saved.
func (s *Store) MemoryPath(domain, name string) string {
	return filepath.Join(s.Dir(domain, name), memoryFile)
}

// Create makes the checkpoint's directory (DIR, 0700, and DIR/DOMAIN/NAME)
// and writes its record, durably. It fails with an error wrapping
// fs.ErrExist when the checkpoint's directory exists already, and then
// changes nothing. The directory appears at once with its whole record: it
// is made and filled under a temporary name and renamed into place.
func (s *Store) Create(r Record) error {
	fail := func(err error) error {
		return fmt.Errorf("creating checkpoint record %s/%s: %w", r.Domain, r.Name, err)
	}
	data, err := encode(r)
	if err != nil {
		return fail(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	final := s.Dir(r.Domain, r.Name)
	if _, err := os.Lstat(final); err == nil {
		return fail(fmt.Errorf("%s: %w", final, fs.ErrExist))
	}
	domainDir := filepath.Dir(final)
	if err := s.makeDirs(domainDir); err != nil {
		return fail(err)
	}
	s.sweepDomain(domainDir)
	tmp, err := os.MkdirTemp(domainDir, tempCreatePrefix)
	if err != nil {
		return fail(err)
	}
	err = writeRecord(tmp, data)
	if err == nil {
		// os.Rename refuses to replace a directory, and so does the
		// kernel if it is not empty, as every checkpoint directory is:
		// so one that exists is never replaced, even if it appeared
		// since the Lstat (by another process: this one holds s.mu).
		err = os.Rename(tmp, final)
		if errors.Is(err, syscall.ENOTEMPTY) || errors.Is(err, syscall.EEXIST) {
			err = fmt.Errorf("%s: %w", final, fs.ErrExist)
		}
	}
	if err != nil {
		os.RemoveAll(tmp)
		return fail(err)
	}
	if err := syncDir(domainDir); err != nil {
		return fail(err)
	}
	return nil
}

// Update rewrites the record of a checkpoint that exists, durably: a reader
// sees the old record or the new one, whole.
func (s *Store) Update(r Record) error {
	fail := func(err error) error {
		return fmt.Errorf("updating checkpoint record %s/%s: %w", r.Domain, r.Name, err)
	}
	data, err := encode(r)
	if err != nil {
		return fail(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := s.Dir(r.Domain, r.Name)
	if _, err := os.Stat(filepath.Join(dir, recordFile)); err != nil {
		return fail(err)
	}
	if err := writeRecord(dir, data); err != nil {
		return fail(err)
	}
	return nil
}

// Remove deletes the checkpoint's directory: record, memory image, all. It
// fails with an error wrapping fs.ErrNotExist when there is none. The
// checkpoint disappears at once: its directory is renamed out of place
// before it is emptied, and the domain's directory goes with its last
// checkpoint.
func (s *Store) Remove(domain, name string) error {
	fail := func(err error) error {
		return fmt.Errorf("removing checkpoint %s/%s: %w", domain, name, err)
	}
	if err := checkNames(domain, name); err != nil {
		return fail(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	dir := s.Dir(domain, name)
	if _, err := os.Lstat(dir); err != nil {
		return fail(err)
	}
	domainDir := filepath.Dir(dir)
	s.sweepDomain(domainDir)
	// The checkpoint moves into a new temporary directory, whose name
	// MkdirTemp picks free.
	trash, err := os.MkdirTemp(domainDir, tempRemovePrefix)
	if err != nil {
		return fail(err)
	}
	if err := os.Rename(dir, filepath.Join(trash, name)); err != nil {
		os.Remove(trash)
		return fail(err)
	}
	if err := syncDir(domainDir); err != nil {
		return fail(err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return fail(err)
	}
	if os.Remove(domainDir) == nil {
		if err := syncDir(s.dir); err != nil {
			return fail(err)
		}
	}
	return nil
}

// Get reads the record of checkpoint name of domain. A missing record is an
// error wrapping fs.ErrNotExist. A record that is not JSON, names another
// checkpoint or is in a phase this snapfs does not know is an error too.
func (s *Store) Get(domain, name string) (Record, error) {
	fail := func(err error) (Record, error) {
		return Record{}, fmt.Errorf("reading checkpoint record %s/%s: %w", domain, name, err)
	}
	if err := checkNames(domain, name); err != nil {
		return fail(err)
	}
	path := filepath.Join(s.Dir(domain, name), recordFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return fail(err)
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return fail(fmt.Errorf("%s: %w", path, err))
	}
	switch {
	case r.Domain != domain || r.Name != name:
		return fail(fmt.Errorf("%s: the record is of checkpoint %q of domain %q", path, r.Name, r.Domain))
	case !validPhase(r.Phase):
		return fail(fmt.Errorf("%s: unknown phase %q", path, r.Phase))
	}
	return r, nil
}

// List reads every record, sorted by domain then name. A checkpoint
// directory whose record cannot be read is skipped and reported in errs,
// for the caller to log; entries whose names start with '.' (writes under
// way or interrupted) and files that are not directories are ignored. A
// DIR that does not exist holds no records.
func (s *Store) List() (records []Record, errs []error) {
	domains, err := os.ReadDir(s.dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, []error{fmt.Errorf("listing checkpoint records: %w", err)}
	}
	for _, d := range domains {
		if !d.IsDir() {
			continue
		}
		names, err := os.ReadDir(filepath.Join(s.dir, d.Name()))
		if err != nil {
			errs = append(errs, fmt.Errorf("listing checkpoint records of %s: %w", d.Name(), err))
			continue
		}
		for _, n := range names {
			if !n.IsDir() || strings.HasPrefix(n.Name(), ".") {
				continue
			}
			r, err := s.Get(d.Name(), n.Name())
			if err != nil {
				errs = append(errs, err)
				continue
			}
			records = append(records, r)
		}
	}
	sort.Slice(records, func(i, j int) bool {
		if records[i].Domain != records[j].Domain {
			return records[i].Domain < records[j].Domain
		}
		return records[i].Name < records[j].Name
	})
	return records, errs
}
