package xen

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// Save, Restore and Destroy run xl with these argv, and drop the cache:
// the read after them runs xl list again.
func TestCheckpointCommands(t *testing.T) {
	const file = "/var/lib/snapfs/checkpoints/web.save"
	tests := []struct {
		name string
		do   func(context.Context, *Client) error
		want string
	}{
		{"save", func(ctx context.Context, c *Client) error { return c.Save(ctx, "web", file) }, "/usr/sbin/xl save -p web " + file},
		{"save a name with a space", func(ctx context.Context, c *Client) error { return c.Save(ctx, "with space", file) }, "/usr/sbin/xl save -p with space " + file},
		{"restore paused", func(ctx context.Context, c *Client) error { return c.Restore(ctx, file, true) }, "/usr/sbin/xl restore -p " + file},
		{"restore running", func(ctx context.Context, c *Client) error { return c.Restore(ctx, file, false) }, "/usr/sbin/xl restore " + file},
		{"destroy", func(ctx context.Context, c *Client) error { return c.Destroy(ctx, "web") }, "/usr/sbin/xl destroy web"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &fakeRunner{out: map[string]string{"/usr/sbin/xl list": twoDomains}}
			c := NewClient(r, "/usr/sbin/xl", fstest.MapFS{}, time.Hour)
			ctx := context.Background()
			if _, err := c.Domains(ctx); err != nil {
				t.Fatal(err)
			}
			if err := tc.do(ctx, c); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Domains(ctx); err != nil {
				t.Fatal(err)
			}
			var argvs []string
			for _, call := range r.calls {
				if call != "/usr/sbin/xl list" {
					argvs = append(argvs, call)
				}
			}
			if len(argvs) != 1 || argvs[0] != tc.want {
				t.Errorf("ran %q, want %q", argvs, tc.want)
			}
			if n := c.Lists(); n != 2 {
				t.Errorf("%d xl list, want 2: the cache was not dropped", n)
			}
		})
	}
}

// Names and files that xl would misread are refused before any process runs.
func TestCheckpointRefusesBeforeRunning(t *testing.T) {
	const file = "/var/lib/snapfs/web.save"
	badNames := []string{"", "-x", "--help", "-p", "3", "0", "a\nb", "tab\there"}
	badFiles := []string{"", "web.save", "-p", "./web.save"}
	type call struct {
		name string
		do   func(context.Context, *Client) error
	}
	var calls []call
	for _, name := range badNames {
		calls = append(calls,
			call{"Save(" + name + ")", func(ctx context.Context, c *Client) error { return c.Save(ctx, name, file) }},
			call{"Destroy(" + name + ")", func(ctx context.Context, c *Client) error { return c.Destroy(ctx, name) }},
			call{"Pause(" + name + ")", func(ctx context.Context, c *Client) error { return c.Pause(ctx, name) }},
			call{"Unpause(" + name + ")", func(ctx context.Context, c *Client) error { return c.Unpause(ctx, name) }},
			call{"Disks(" + name + ")", func(ctx context.Context, c *Client) error { _, _, err := c.Disks(ctx, name); return err }},
		)
	}
	for _, f := range badFiles {
		calls = append(calls,
			call{"Save(web, " + f + ")", func(ctx context.Context, c *Client) error { return c.Save(ctx, "web", f) }},
			call{"Restore(" + f + ")", func(ctx context.Context, c *Client) error { return c.Restore(ctx, f, true) }},
		)
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			r := &fakeRunner{out: map[string]string{"xl list": twoDomains}}
			c := NewClient(r, "xl", fstest.MapFS{}, time.Hour)
			err := tc.do(context.Background(), c)
			if !errors.Is(err, ErrInvalidName) {
				t.Errorf("err = %v, want ErrInvalidName", err)
			}
			if len(r.calls) != 0 {
				t.Errorf("ran %q", r.calls)
			}
		})
	}
}

// fakeXL writes a script that stands for xl: it records its arguments, one
// a line, in argv, prints message on standard error and exits with code.
func fakeXL(t *testing.T, message string, code int) (xl, argv string) {
	t.Helper()
	dir := t.TempDir()
	xl, argv = filepath.Join(dir, "xl"), filepath.Join(dir, "argv")
	script := "#!/bin/sh\nprintf '%s\\n' \"$@\" >'" + argv + "'\nprintf '%s\\n' '" + message + "' >&2\nexit " + strconv.Itoa(code) + "\n"
	if err := os.WriteFile(xl, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return xl, argv
}

// Failures of xl reach the caller classified as ExecRunner classifies them,
// naming the command.
func TestCheckpointErrors(t *testing.T) {
	const file = "/var/lib/snapfs/nosuchdomain.save"
	unknown := "nosuchdomain is an invalid domain identifier (rc=-6)"
	tests := []struct {
		name    string
		message string
		do      func(context.Context, *Client) error
		argv    string
		kind    error
	}{
		{"save of an unknown domain", unknown, func(ctx context.Context, c *Client) error { return c.Save(ctx, "nosuchdomain", file) }, "save -p nosuchdomain " + file, ErrNoSuchDomain},
		{"destroy of an unknown domain", unknown, func(ctx context.Context, c *Client) error { return c.Destroy(ctx, "nosuchdomain") }, "destroy nosuchdomain", ErrNoSuchDomain},
		{"restore of a missing file", "xl: cannot open " + file, func(ctx context.Context, c *Client) error { return c.Restore(ctx, file, true) }, "restore -p " + file, ErrFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			xl, argvFile := fakeXL(t, tc.message, 1)
			c := NewClient(&ExecRunner{Timeout: 10 * time.Second}, xl, fstest.MapFS{}, time.Hour)
			err := tc.do(context.Background(), c)
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
			var ce *CommandError
			if !errors.As(err, &ce) || ce.ExitCode != 1 || strings.Join(ce.Argv, " ") != xl+" "+tc.argv {
				t.Errorf("err = %#v, want a CommandError of %s %s exiting 1", err, xl, tc.argv)
			}
			if want := xl + " " + tc.argv + ": exit status 1: " + tc.message; err.Error() != want {
				t.Errorf("message %q, want %q", err.Error(), want)
			}
			got, rerr := os.ReadFile(argvFile)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if want := strings.ReplaceAll(tc.argv, " ", "\n") + "\n"; string(got) != want {
				t.Errorf("xl got arguments %q, want %q", got, want)
			}
		})
	}

	// A Runner's error that is not a CommandError is wrapped in one
	// naming the command.
	boom := errors.New("boom")
	r := &fakeRunner{errs: map[string]error{"xl destroy web": boom}}
	err := NewClient(r, "xl", fstest.MapFS{}, time.Hour).Destroy(context.Background(), "web")
	if !errors.Is(err, boom) || err.Error() != "xl destroy web: boom" {
		t.Errorf("err = %v", err)
	}
}

func TestClientDisks(t *testing.T) {
	tests := []struct {
		name      string
		backends  fstest.MapFS
		domain    string
		wantDevs  []Device
		wantTotal int
	}{
		{
			name: "two disks, one without physical_device",
			backends: fstest.MapFS{
				"vbd-1-51712/physical_device": {Data: []byte("fe:1\n")},
				"vbd-1-51728/state":           {Data: []byte("4\n")},
				"vbd-2-51712/physical_device": {Data: []byte("fe:2\n")}, // clone's
				"vif-1-0/state":               {Data: []byte("4\n")},
			},
			domain: "web", wantDevs: []Device{{254, 1}}, wantTotal: 2,
		},
		{
			name: "a qdisk disk counts, without a device",
			backends: fstest.MapFS{
				"vbd-1-51712/physical_device": {Data: []byte("fe:1\n")},
				"qdisk-1-51728/state":         {Data: []byte("4\n")},
				"virtio_disk-1-51744/state":   {Data: []byte("4\n")},
				"console-1-0/state":           {Data: []byte("4\n")},
			},
			domain: "web", wantDevs: []Device{{254, 1}}, wantTotal: 3,
		},
		{
			name: "not opened yet: 0:0 counts, without a device",
			backends: fstest.MapFS{
				"vbd-2-51712/physical_device": {Data: []byte("0:0\n")},
			},
			domain: "clone", wantTotal: 1,
		},
		{
			name: "a file through a loop device, in device order",
			backends: fstest.MapFS{
				"vbd-2-268439552/physical_device": {Data: []byte("fe:9\n")},
				"vbd-2-51712/physical_device":     {Data: []byte("fe:2\n")},
				"vbd-2-51728/physical_device":     {Data: []byte("7:0\n")},
				"vbd-12-51712/physical_device":    {Data: []byte("fe:7\n")},
			},
			domain: "clone", wantDevs: []Device{{254, 2}, {7, 0}, {254, 9}}, wantTotal: 3,
		},
		{
			name:     "no disks",
			backends: fstest.MapFS{"vbd-1-51712/physical_device": {Data: []byte("fe:1\n")}},
			domain:   "Domain-0",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &fakeRunner{out: map[string]string{"xl list": twoDomains}}
			c := NewClient(r, "xl", tc.backends, time.Hour)
			devs, total, err := c.Disks(context.Background(), tc.domain)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(devs, tc.wantDevs) || total != tc.wantTotal {
				t.Errorf("Disks(%s) = %v, %d; want %v, %d", tc.domain, devs, total, tc.wantDevs, tc.wantTotal)
			}
		})
	}

	// Disks reads the domains anew, and knows no unknown domain.
	r := &fakeRunner{out: map[string]string{"xl list": twoDomains}}
	c := NewClient(r, "xl", fstest.MapFS{}, time.Hour)
	ctx := context.Background()
	c.Domains(ctx)
	if _, _, err := c.Disks(ctx, "nosuchdomain"); !errors.Is(err, ErrNoSuchDomain) {
		t.Errorf("unknown domain: %v", err)
	}
	if n := c.Lists(); n != 2 {
		t.Errorf("%d xl list, want 2: Disks did not read anew", n)
	}
	fail := &CommandError{Argv: []string{"xl", "list"}, ExitCode: 1, Kind: ErrFailed}
	r.errs = map[string]error{"xl list": fail}
	if _, _, err := c.Disks(ctx, "web"); !errors.Is(err, ErrFailed) {
		t.Errorf("failing xl list: %v", err)
	}
	if _, _, err := ReadDisks(fstest.MapFS{"vbd-1-51712/physical_device": {Data: []byte("junk")}}, 1); err == nil {
		t.Error("a physical_device that is not a device number is not an error")
	}
}

// The recorded sysfs: clone1 (domain 1) has two disks, the long-named
// domain one, and after xl destroy none has any.
func TestReadDisksRecorded(t *testing.T) {
	lv := lvDevices(t)
	running := os.DirFS(filepath.Join(recorded, "sysfs", "running"))
	for _, tc := range []struct {
		domID int
		want  []Device
	}{
		{1, []Device{lv["clone1"], lv["data"]}},
		{2, []Device{lv["web"]}},
		{3, []Device{lv["offdisk"]}},
		{0, nil},
	} {
		devs, total, err := ReadDisks(running, tc.domID)
		if err != nil || !reflect.DeepEqual(devs, tc.want) || total != len(tc.want) {
			t.Errorf("domain %d: %v, %d, %v; want %v", tc.domID, devs, total, err, tc.want)
		}
	}
	devs, total, err := ReadDisks(os.DirFS(filepath.Join(recorded, "sysfs", "destroyed")), 1)
	if err != nil || devs != nil || total != 0 {
		t.Errorf("after xl destroy: %v, %d, %v", devs, total, err)
	}
}

func TestBackendName(t *testing.T) {
	for name, want := range map[string]struct {
		kind       string
		dom, devID int
		ok         bool
	}{
		"vbd-1-51712":         {"vbd", 1, 51712, true},
		"virtio_disk-3-51744": {"virtio_disk", 3, 51744, true},
		"qdisk-12-268439552":  {"qdisk", 12, 268439552, true},
		"vbd-x-1":             {},
		"vbd-01-51712":        {},
		"vbd-1-+5":            {},
		"vbd-1":               {},
		"-1-2":                {},
		"vbd-1-51712-":        {},
	} {
		kind, dom, dev, ok := backendName(name)
		if kind != want.kind || dom != want.dom || dev != want.devID || ok != want.ok {
			t.Errorf("backendName(%q) = %q, %d, %d, %v; want %+v", name, kind, dom, dev, ok, want)
		}
	}
}
