package xen

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

func TestStateOf(t *testing.T) {
	tests := []struct {
		flags string
		want  string
	}{
		{"r-----", Running},
		{"-b----", Blocked},
		{"------", Running}, // runnable, waiting for a CPU
		{"--p---", Paused},
		{"-bp---", Paused},
		{"---s--", Shutdown}, // powered off (reason -)
		{"---sr-", Shutdown}, // rebooting
		{"---sc-", Crashed},  // crashed
		{"-b-sc-", Crashed},  // crashed, blocked flag still set
		{"---s-d", Dying},    // being destroyed
		{"-----d", Dying},    // dying without a shutdown
		{"--ps--", Shutdown}, // shut down while paused
		{"r--sS-", Shutdown}, // soft reset
		{"---s?-", Shutdown}, // unknown reason
		{"---sw-", Shutdown}, // watchdog
		{"r-p---", Paused},   // still on a CPU as the pause lands
		{"rb----", Running},  // both: running wins
		{"-b--c-", Blocked},  // a reason without the shutdown flag is ignored
		{"---sc-", Crashed},
	}
	for _, tc := range tests {
		got, err := StateOf(tc.flags)
		if err != nil || got != tc.want {
			t.Errorf("StateOf(%q) = %q, %v; want %q", tc.flags, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "r----", "r------", "x-----", "-r----", "---x--"} {
		if got, err := StateOf(bad); err == nil {
			t.Errorf("StateOf(%q) = %q, want an error", bad, got)
		}
	}
}

func TestParseListSynthetic(t *testing.T) {
	// Rows as xl prints them ("%-40s %5d %5lu %5d     %s  %8.1f"), with a
	// name longer than 40 characters, one with a space, and a large ID.
	out := "Name                                        ID   Mem VCPUs\tState\tTime(s)\n" +
		"Domain-0                                     0  1024     2     r-----      12.2\n" +
		"a-domain-whose-name-is-longer-than-forty-characters     1   128     1     -b----       3.4\n" +
		"with space                                  12    96     1     --p---       0.9\n" +
		"bigid                                    32000   256     4     ---sc-  123456.7\n"
	got, err := ParseList(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	want := []Domain{
		{Name: "Domain-0", ID: 0, State: Running, Flags: "r-----"},
		{Name: "a-domain-whose-name-is-longer-than-forty-characters", ID: 1, State: Blocked, Flags: "-b----"},
		{Name: "with space", ID: 12, State: Paused, Flags: "--p---"},
		{Name: "bigid", ID: 32000, State: Crashed, Flags: "---sc-"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{
		"",
		"no header\n",
		"Name ID Mem VCPUs State Time(s)\nDomain-0 0 1024 2 r-----\n",
		"Name ID Mem VCPUs State Time(s)\nDomain-0 x 1024 2 r----- 1.0\n",
		"Name ID Mem VCPUs State Time(s)\nDomain-0 0 1024 2 rxxxxx 1.0\n",
	} {
		if doms, err := ParseList(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseList(%q) = %+v, want an error", bad, doms)
		}
	}
}

func TestParsePhysicalDevice(t *testing.T) {
	for in, want := range map[string]Device{
		"fe:0\n":  {254, 0},
		"fe:1f\n": {254, 31},
		"7:0":     {7, 0},
		"103:100": {259, 256},
		"0:0\n":   {},
	} {
		got, err := ParsePhysicalDevice(strings.NewReader(in))
		if err != nil || got != want {
			t.Errorf("ParsePhysicalDevice(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "fe", "254", "fe:", ":0", "zz:0", "fe:0:1"} {
		if got, err := ParsePhysicalDevice(strings.NewReader(bad)); err == nil {
			t.Errorf("ParsePhysicalDevice(%q) = %v, want an error", bad, got)
		}
	}
}

func TestReadBackendsSynthetic(t *testing.T) {
	fsys := fstest.MapFS{
		"vbd-2-51712/physical_device": {Data: []byte("fe:3\n")},
		"vbd-1-51728/physical_device": {Data: []byte("fe:1\n")},
		"vbd-1-51712/physical_device": {Data: []byte("fe:0\n")},
		"vbd-3-51712/physical_device": {Data: []byte("0:0\n")}, // not opened yet
		"vbd-4-51712/state":           {Data: []byte("4\n")},   // no blkback attribute
		"vif-1-0/state":               {Data: []byte("4\n")},
		"console-1-0/state":           {Data: []byte("4\n")},
		"vbd-x-1/physical_device":     {Data: []byte("fe:9\n")},
	}
	got, err := ReadBackends(fsys)
	if err != nil {
		t.Fatal(err)
	}
	want := []Backend{{1, 51712, Device{254, 0}}, {1, 51728, Device{254, 1}}, {2, 51712, Device{254, 3}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	// No directory: blkback is not loaded, and no domain has such a disk.
	if got, err := ReadBackends(os.DirFS(filepath.Join(t.TempDir(), "none"))); err != nil || got != nil {
		t.Errorf("missing directory: %v, %v", got, err)
	}
	if _, err := ReadBackends(fstest.MapFS{"vbd-1-51712/physical_device": {Data: []byte("junk")}}); err == nil {
		t.Error("a physical_device that is not a device number is not an error")
	}
}

// fakeRunner answers xl commands from a table and counts them.
type fakeRunner struct {
	mu    sync.Mutex
	out   map[string]string
	errs  map[string]error
	calls []string
	delay time.Duration
}

func (r *fakeRunner) Run(ctx context.Context, argv ...string) ([]byte, error) {
	line := strings.Join(argv, " ")
	r.mu.Lock()
	r.calls = append(r.calls, line)
	out, err, delay := r.out[line], r.errs[line], r.delay
	r.mu.Unlock()
	time.Sleep(delay)
	return []byte(out), err
}

func (r *fakeRunner) count(line string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		if c == line {
			n++
		}
	}
	return n
}

const twoDomains = "Name                                        ID   Mem VCPUs\tState\tTime(s)\n" +
	"Domain-0                                     0  1024     2     r-----      12.2\n" +
	"web                                          1   128     1     -b----       3.4\n" +
	"clone                                        2   128     1     --p---       0.9\n"

func TestClientUsing(t *testing.T) {
	r := &fakeRunner{out: map[string]string{"xl list": twoDomains}}
	backends := fstest.MapFS{
		"vbd-1-51712/physical_device": {Data: []byte("fe:1\n")},
		"vbd-2-51712/physical_device": {Data: []byte("fe:2\n")},
		"vbd-2-51728/physical_device": {Data: []byte("fe:1\n")}, // shared read-only
		"vbd-9-51712/physical_device": {Data: []byte("fe:1\n")}, // no such domain (gone)
	}
	c := NewClient(r, "xl", backends, time.Hour)
	ctx := context.Background()
	got, err := c.Using(ctx, Device{254, 1})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range got {
		names = append(names, d.Name+" "+d.State)
	}
	if strings.Join(names, ", ") != "clone paused, web blocked" {
		t.Errorf("Using 254:1 = %v", names)
	}
	if got, _ := c.Using(ctx, Device{254, 7}); len(got) != 0 {
		t.Errorf("Using 254:7 = %v", got)
	}
	if n := r.count("xl list"); n != 1 {
		t.Errorf("%d xl list, want 1", n)
	}
	if _, err := c.UsingNow(ctx, Device{254, 1}); err != nil {
		t.Fatal(err)
	}
	if n := r.count("xl list"); n != 2 {
		t.Errorf("UsingNow did not read anew: %d xl list", n)
	}
}

// A hundred readers at once, and again within MaxAge, cost one xl list.
func TestClientOneListForManyReads(t *testing.T) {
	r := &fakeRunner{out: map[string]string{"xl list": twoDomains}, delay: 50 * time.Millisecond}
	c := NewClient(r, "xl", fstest.MapFS{}, time.Second)
	var wg sync.WaitGroup
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Using(context.Background(), Device{254, 1}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i := 0; i < 100; i++ {
		if _, err := c.Domains(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.Lists(); n != 1 {
		t.Errorf("%d xl list for 200 reads, want 1", n)
	}
	// Fresh reads anew, and so does a read after MaxAge.
	if _, err := c.Fresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	c2 := NewClient(r, "xl", fstest.MapFS{}, 10*time.Millisecond)
	c2.Domains(context.Background())
	time.Sleep(20 * time.Millisecond)
	c2.Domains(context.Background())
	if n := c.Lists() + c2.Lists(); n != 4 {
		t.Errorf("%d xl list, want 4", n)
	}
}

func TestClientErrors(t *testing.T) {
	fail := &CommandError{Argv: []string{"xl", "list"}, ExitCode: 1, Message: "ERROR:  Can't find hypervisor information in sysfs!", Kind: ErrFailed}
	r := &fakeRunner{errs: map[string]error{"xl list": fail}}
	c := NewClient(r, "xl", fstest.MapFS{}, time.Hour)
	if _, err := c.Using(context.Background(), Device{254, 1}); !errors.Is(err, ErrFailed) {
		t.Errorf("Using with a failing xl: %v", err)
	}
	// A failure serves the reads of MaxAge too; a fresh read tries again.
	if _, err := c.Domains(context.Background()); !errors.Is(err, ErrFailed) {
		t.Errorf("second read: %v", err)
	}
	if n := c.Lists(); n != 1 {
		t.Errorf("%d xl list, want 1", n)
	}
	c.Fresh(context.Background())
	if n := c.Lists(); n != 2 {
		t.Errorf("%d xl list, want 2", n)
	}
	r.out = map[string]string{"xl list": "garbage\n"}
	r.errs = nil
	if _, err := c.Fresh(context.Background()); err == nil {
		t.Error("unreadable xl list is not an error")
	}
}

func TestPauseUnpause(t *testing.T) {
	r := &fakeRunner{out: map[string]string{"xl list": twoDomains}}
	c := NewClient(r, "/usr/sbin/xl", fstest.MapFS{}, time.Hour)
	ctx := context.Background()
	c.Domains(ctx)
	if err := c.Pause(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if err := c.Unpause(ctx, "web"); err != nil {
		t.Fatal(err)
	}
	// Numbers are refused: xl pause 999 exits 0 when there is no domain 999.
	for _, name := range []string{"", "3", "0"} {
		if err := c.Pause(ctx, name); err == nil {
			t.Errorf("Pause(%q) succeeded", name)
		}
	}
	want := "/usr/sbin/xl list\n/usr/sbin/xl pause web\n/usr/sbin/xl unpause web"
	if got := strings.Join(r.calls, "\n"); got != want {
		t.Errorf("calls:\n%s\nwant\n%s", got, want)
	}
	// Pause and unpause drop the cache: the next read sees the new state.
	c.Domains(ctx)
	if n := c.Lists(); n != 2 {
		t.Errorf("%d xl list, want 2", n)
	}
}

func TestExecRunner(t *testing.T) {
	r := &ExecRunner{Timeout: 5 * time.Second}
	ctx := context.Background()
	out, err := r.Run(ctx, "sh", "-c", "echo $LC_ALL")
	if err != nil || string(out) != "C\n" {
		t.Errorf("LC_ALL: %q, %v", out, err)
	}
	tests := []struct {
		name   string
		script string
		code   int
		kind   error
	}{
		{"exit status", "echo 'xl: some failure' >&2; exit 3", 3, ErrFailed},
		{"unknown name", "echo 'nosuch is an invalid domain identifier (rc=-6)' >&2; exit 1", 1, ErrNoSuchDomain},
		// xl pause of a numeric ID exits 0 even when libxl failed.
		{"libxl error, exit 0", "echo 'libxl: error: libxl_domain.c:613:libxl_domain_pause: Domain 999:Pausing domain 999: No such process' >&2", 0, ErrFailed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Run(ctx, "sh", "-c", tc.script)
			var ce *CommandError
			if !errors.As(err, &ce) || ce.ExitCode != tc.code || !errors.Is(err, tc.kind) {
				t.Errorf("err = %#v, want exit %d and %v", err, tc.code, tc.kind)
			}
		})
	}
	// A warning alone is no failure.
	if _, err := r.Run(ctx, "sh", "-c", "echo 'libxl: warning: something' >&2"); err != nil {
		t.Errorf("warning: %v", err)
	}
	if _, err := r.Run(ctx, filepath.Join(t.TempDir(), "no-xl"), "list"); !errors.Is(err, ErrFailed) {
		t.Errorf("missing binary: %v", err)
	}
	short := &ExecRunner{Timeout: 100 * time.Millisecond}
	start := time.Now()
	if _, err := short.Run(ctx, "sleep", "10"); err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("timeout: %v after %v", err, time.Since(start))
	}
}
