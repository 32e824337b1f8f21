package memlimit

import (
	"os/exec"
	"regexp"
	"testing"
)

// NoHugePages turns THP off for the process and for the processes it
// starts (the lvm shell, lvcreate), as the kernel shows in THP_enabled.
func TestNoHugePages(t *testing.T) {
	if !NoHugePages() {
		t.Fatal("NoHugePages: THP still on for the process")
	}
	if !HugePagesOff() {
		t.Fatal("HugePagesOff false after NoHugePages")
	}
	out, err := exec.Command("cat", "/proc/self/status").Output()
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^THP_enabled:\s*(\d)$`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("no THP_enabled in a child's /proc/self/status:\n%s", out)
	}
	if string(m[1]) != "0" {
		t.Errorf("a child of snapfs has THP_enabled: %s, want 0", m[1])
	}
}
