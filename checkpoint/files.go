package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Sweep removes what writes interrupted by a crash left: checkpoint
// directories half made or half removed, and records half written. None of
// them was ever a record that List returns, but a half-removed checkpoint
// may hold a large memory image. Create and Remove sweep their domain;
// call Sweep once at start, before serving, to sweep them all.
func (s *Store) Sweep() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	domains, err := os.ReadDir(s.dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("sweeping checkpoint records: %w", err)
	}
	for _, d := range domains {
		if d.IsDir() {
			s.sweepDomain(filepath.Join(s.dir, d.Name()))
		}
	}
	return nil
}

// sweepDomain removes the leftovers of interrupted writes in one domain's
// directory, as far as it can: a leftover it cannot remove is harmless, and
// tried again at the next sweep. The caller holds s.mu, so no write of this
// process is under way.
func (s *Store) sweepDomain(domainDir string) {
	entries, err := os.ReadDir(domainDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		p := filepath.Join(domainDir, e.Name())
		switch {
		case strings.HasPrefix(e.Name(), tempCreatePrefix), strings.HasPrefix(e.Name(), tempRemovePrefix):
			os.RemoveAll(p)
		case e.IsDir() && !strings.HasPrefix(e.Name(), "."):
			inside, err := os.ReadDir(p)
			if err != nil {
				continue
			}
			for _, f := range inside {
				if strings.HasPrefix(f.Name(), tempRecordPrefix) {
					os.Remove(filepath.Join(p, f.Name()))
				}
			}
		}
	}
}

// makeDirs makes DIR, 0700, and the domain's directory in it, 0700, and
// syncs the directory above each one it makes, so that they survive a crash.
// The directories above DIR are made 0755 as needed. A DIR that exists
// keeps its mode: the administrator's choice.
func (s *Store) makeDirs(domainDir string) error {
	if err := os.MkdirAll(filepath.Dir(s.dir), 0o755); err != nil {
		return err
	}
	for _, dir := range []string{s.dir, domainDir} {
		err := os.Mkdir(dir, 0o700)
		if errors.Is(err, fs.ErrExist) {
			if fi, serr := os.Stat(dir); serr != nil || !fi.IsDir() {
				return fmt.Errorf("%s: not a directory", dir)
			}
			continue
		}
		if err != nil {
			return err
		}
		// Mkdir's mode passes through the umask; 0700 is meant as it is.
		if err := os.Chmod(dir, 0o700); err != nil {
			return err
		}
		if err := syncDir(filepath.Dir(dir)); err != nil {
			return err
		}
	}
	return nil
}

// encode checks r and returns its JSON, indented for the administrator who
// reads it.
func encode(r Record) ([]byte, error) {
	if err := checkNames(r.Domain, r.Name); err != nil {
		return nil, err
	}
	if !validPhase(r.Phase) {
		return nil, fmt.Errorf("unknown phase %q: %w", r.Phase, fs.ErrInvalid)
	}
	if r.Disks == nil {
		r.Disks = []Disk{} // [] rather than null, for the reader
	}
	data, err := json.MarshalIndent(r, "", "\t")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// checkNames refuses a domain or a checkpoint name that is not a directory
// name of the store, so that no path leaves DIR.
func checkNames(domain, name string) error {
	if err := ValidDomain(domain); err != nil {
		return err
	}
	if err := checkPathName(name); err != nil {
		return fmt.Errorf("checkpoint name %q: %w", name, err)
	}
	return nil
}

// writeRecord writes data as dir's record, durably: into a temporary file,
// synced, renamed over the record, and the directory synced.
func writeRecord(dir string, data []byte) error {
	tmp, err := os.CreateTemp(dir, tempRecordPrefix+"*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if serr := tmp.Sync(); err == nil {
		err = serr
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, recordFile))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return syncDir(dir)
}

// syncDir fsyncs a directory, so that the entries made, renamed or removed
// in it survive a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}
