package snapmount

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/moby/sys/mountinfo"

	"github.com/snapfs/snapfs/blockdev"
)

// Enter passes on the errors of Path and Device as they came, and with no
// mount point it mounts nothing and asks for nothing.
func TestEnterErrors(t *testing.T) {
	errPath := errors.New("no such snapshot")
	errDevice := errors.New("lvchange failed")
	errCalled := errors.New("called")
	tests := []struct {
		name       string
		mountpoint string
		path       func(string) (string, error)
		device     func(context.Context, string) (string, error)
		want       error
	}{
		{"snapshot gone", "/nonexistent", func(string) (string, error) { return "", errPath }, nil, errPath},
		{"activation fails", "/nonexistent", func(string) (string, error) { return "vg/o/s", nil },
			func(context.Context, string) (string, error) { return "", errDevice }, errDevice},
		{"interrupted activation", "/nonexistent", func(string) (string, error) { return "vg/o/s", nil },
			func(ctx context.Context, _ string) (string, error) { <-ctx.Done(); return "", ctx.Err() }, context.Canceled},
		{"no mount point", "", func(string) (string, error) { return "", errCalled },
			func(context.Context, string) (string, error) { return "", errCalled }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := New(Options{Mountpoint: tc.mountpoint, Path: tc.path, Device: tc.device})
			defer m.Close()
			ctx, cancel := context.WithCancel(context.Background())
			if errors.Is(tc.want, context.Canceled) {
				cancel()
			}
			defer cancel()
			if err := m.Enter(ctx, "uuid", "", true); !errors.Is(err, tc.want) {
				t.Errorf("Enter: %v, want %v", err, tc.want)
			}
			if err := m.Prepare(ctx, "uuid"); !errors.Is(err, tc.want) {
				t.Errorf("Prepare: %v, want %v", err, tc.want)
			}
			if got := m.Partitions("uuid"); got != nil {
				t.Errorf("Partitions: %v", got)
			}
		})
	}
}

// Partitions, WaitMounted and Drop of a snapshot snapmount never saw make
// no state for it.
func TestUnknownSnapshotMakesNoState(t *testing.T) {
	m := New(Options{Mountpoint: "/nonexistent"})
	defer m.Close()
	if got := m.Partitions("x"); got != nil {
		t.Errorf("Partitions: %v", got)
	}
	if err := m.WaitMounted(context.Background(), "x", ""); err != nil {
		t.Errorf("WaitMounted: %v", err)
	}
	m.Drop("x")
	if n := len(m.allSnapshots()); n != 0 {
		t.Errorf("%d snapshots known", n)
	}
}

// The filter finds snapfs's FUSE mount on the mount point in a recorded
// /proc/self/mountinfo, a path with a space in it included, and nothing
// else: not another filesystem on it, nor snapfs on a parent or child
// of it.
func TestSnapfsMountFilter(t *testing.T) {
	b, err := os.ReadFile("testdata/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mountpoint string
		want       []string // major:minor of the matches, the top one last
	}{
		{"/srv/snapfs", []string{"0:61", "0:64"}},
		{"/mnt/lvm snapshots", []string{"0:66"}},
		{"/mnt/other", []string{"0:65"}},
		{"/mnt", nil},
		{"/mnt/lvm", nil},
		{"/srv", nil},
		{"/srv/snapfs/vg/web/snap1/files", nil},
	}
	for _, tc := range tests {
		t.Run(tc.mountpoint, func(t *testing.T) {
			mounts, err := mountinfo.GetMountsFromReader(strings.NewReader(string(b)), snapfsMountFilter(tc.mountpoint))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, info := range mounts {
				got = append(got, strconv.Itoa(info.Major)+":"+strconv.Itoa(info.Minor))
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("matches %v, want %v", got, tc.want)
			}
		})
	}
	if !treeMountedAt("") {
		t.Error("with no mount point, the tree counts as mounted")
	}
	if treeMountedAt(t.TempDir()) {
		t.Error("a plain directory counts as the tree's mount")
	}
}

// NothingToMount is true only where Enter would mount nothing whoever
// looks: a snapshot prepared with nothing to mount on that mount point, or
// no mount point at all; Mounting only while a mount has its mount point
// open, when WaitMounted waits.
func TestNothingToMountAndMounting(t *testing.T) {
	m := New(Options{Mountpoint: "/nonexistent"})
	defer m.Close()
	set := func(uuid string, content blockdev.Content, parts ...string) {
		s := m.stateOf(uuid)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.prepared, s.content, s.device = true, content, "/dev/x"
		for _, p := range parts {
			s.partitions = append(s.partitions, partition{name: p, device: "/dev/x" + p, fstype: "ext4"})
		}
	}
	set("empty", blockdev.Content{Reason: "zeros"})
	set("fs", blockdev.Content{Kind: blockdev.Filesystem, Type: "ext4"})
	set("table", blockdev.Content{Kind: blockdev.PartitionTable, Type: "gpt"}, "p1")
	m.stateOf("unprepared")
	for _, tc := range []struct {
		uuid, part string
		want       bool
	}{
		{"never seen", "", false},
		{"unprepared", "", false},
		{"empty", "", true},
		{"fs", "", false},
		{"table", "", true},
		{"table", "p1", false},
		{"table", "p2", true},
	} {
		if got := m.NothingToMount(tc.uuid, tc.part); got != tc.want {
			t.Errorf("NothingToMount(%s, %q) = %v, want %v", tc.uuid, tc.part, got, tc.want)
		}
	}
	if !New(Options{}).NothingToMount("any", "") {
		t.Error("NothingToMount without a mount point = false")
	}

	s := m.stateOf("fs")
	job := &mountJob{walked: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	s.point("").job = job
	s.mu.Unlock()
	if m.Mounting("fs", "") {
		t.Error("Mounting before the mount point is open")
	}
	close(job.walked)
	if !m.Mounting("fs", "") || m.Mounting("fs", "p1") || m.Mounting("never seen", "") {
		t.Error("Mounting: not only the mount under way with its mount point open")
	}
	// The mount ends (failed), as the mounting goroutine would end it, so
	// that Close does not wait for it.
	s.mu.Lock()
	s.point("").job = nil
	s.mu.Unlock()
	close(job.done)
	if m.Mounting("fs", "") {
		t.Error("Mounting once the mount has ended")
	}
}
