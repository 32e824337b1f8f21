//go:build vmguest

// Changes made with LVM by hand, behind snapfs's back: snapfs shows them
// promptly, and takes snapshots made and removed by hand into its model
// without a report.
package guest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestOutsideChanges makes and removes snapshots with lvcreate and lvremove
// by hand: snapfs shows both within two seconds, cached entries included.
func TestOutsideChanges(t *testing.T) {
	newVG(t, "e2e", 128)
	mustSh(t, "lvcreate -qq -L 16M -n web e2e && lvcreate -qq -s -L 4M -n old e2e/web")
	d := startSnapfs(t, baseConfig)
	if _, err := os.Stat(d.path("e2e/web/old/state")); err != nil {
		t.Fatal(err) // now cached by the kernel
	}
	// snapfs promises 2 s of staleness plus the time LVM takes to answer
	// one report, which it cannot make shorter: measure that here.
	reportStart := time.Now()
	mustSh(t, "lvm fullreport e2e >/dev/null")
	report := time.Since(reportStart)
	mustSh(t, "lvcreate -qq -s -L 4M -n byhand e2e/web && lvremove -qq -y e2e/old")
	start := time.Now()
	waitFor(t, 10*time.Second+report, "outside changes", func() bool {
		_, errNew := os.Stat(d.path("e2e/web/byhand"))
		_, errOld := os.Stat(d.path("e2e/web/old"))
		return errNew == nil && os.IsNotExist(errOld)
	})
	if took := time.Since(start); took > 2*time.Second+report {
		t.Errorf("outside changes took %v to show, want at most 2s + one report (%v)", took, report)
	}
}

// TestOutsideChangesCaughtUp: snapshots taken and removed by hand enter
// and leave the model without a report (snapfs reads the metadata backups
// and device-mapper), with the values lvs shows, and so do tags put on and
// taken off; a rename by hand, which that cannot vouch for, is read from
// LVM, and so is a change made with metadata backups off, which only the
// VG's seqno on its PV shows.
func TestOutsideChangesCaughtUp(t *testing.T) {
	newVG(t, "e2e", 128)
	mustSh(t, "lvcreate -qq -L 16M -n web e2e")
	d := startSnapfs(t, baseConfig)
	mustSh(t, "ls "+d.path("e2e/web")+" >/dev/null")
	before := d.lvmCommands(t)

	mustSh(t, "lvcreate -qq -s -L 4M -c 16k -n byhand e2e/web")
	status := d.path("e2e/web/byhand/status")
	waitFor(t, 10*time.Second, "the snapshot made by hand", func() bool { _, err := os.Stat(status); return err == nil })
	got := readFile(t, status)
	for field, lvs := range map[string]string{
		"uuid":       lvsField(t, "e2e/byhand", "lv_uuid"),
		"origin":     "e2e/web",
		"cow_size":   lvsField(t, "e2e/byhand", "lv_size", "--units", "b", "--nosuffix"),
		"chunk_size": lvsField(t, "e2e/byhand", "chunk_size", "--units", "b", "--nosuffix"),
		"allocated":  lvsField(t, "e2e/byhand", "snap_percent"),
	} {
		if want := field + ": " + lvs + "\n"; !strings.Contains(got, want) {
			t.Errorf("status lacks %q (as lvs says):\n%s", want, got)
		}
	}
	want := "free: " + strings.TrimSpace(mustSh(t, "vgs --noheadings --units b --nosuffix -o vg_free e2e")) + "\n"
	if vg := readFile(t, d.path("e2e/status")); !strings.Contains(vg, want) {
		t.Errorf("VG status after the lvcreate by hand lacks %q:\n%s", want, vg)
	}
	// A hold put on and taken off by hand: a change of tags alone.
	mustSh(t, "lvchange -qq --addtag snapfs_hold e2e/byhand")
	waitFor(t, 10*time.Second, "the hold put on by hand", func() bool { return strings.Contains(readFile(t, status), "held: yes\n") })
	mustSh(t, "lvchange -qq --deltag snapfs_hold e2e/byhand")
	waitFor(t, 10*time.Second, "the hold taken off by hand", func() bool { return strings.Contains(readFile(t, status), "held: no\n") })
	mustSh(t, "lvremove -qq -y e2e/byhand")
	waitFor(t, 10*time.Second, "the snapshot removed by hand to go", func() bool { _, err := os.Stat(status); return os.IsNotExist(err) })
	if n := d.lvmCommands(t) - before; n != 0 {
		t.Errorf("snapfs ran %d LVM commands for a snapshot taken, held, released and removed by hand, want none:\n%s", n, d.logs.String())
	}

	// A snapshot made and renamed at once is a new snapshot of the new
	// name; renaming one that snapfs shows already is not caught up.
	// The schedules' tick looks at the model every second, and may catch
	// s2 between the two commands (a loaded machine has): then the rename
	// is of a snapshot snapfs shows, and costs the one report below.
	mustSh(t, "lvcreate -qq -s -L 4M -n s2 e2e/web && lvrename -qq e2e s2 s3")
	waitFor(t, 10*time.Second, "the snapshot made and renamed by hand", func() bool { _, err := os.Stat(d.path("e2e/web/s3")); return err == nil })
	made := d.lvmCommands(t) - before
	if made > 1 {
		t.Errorf("snapfs ran %d LVM commands for a snapshot made and renamed by hand, want none (or one report, had it seen s2)", made)
	}
	mustSh(t, "lvrename -qq e2e s3 s4")
	waitFor(t, 10*time.Second, "the snapshot renamed by hand", func() bool { _, err := os.Stat(d.path("e2e/web/s4")); return err == nil })
	if n := d.lvmCommands(t) - before - made; n != 1 {
		t.Errorf("snapfs ran %d LVM commands after a rename by hand, want 1 report", n)
	}
	if _, err := os.Stat(d.path("e2e/web/s3")); !os.IsNotExist(err) {
		t.Errorf("the old name after the rename: %v", err)
	}

	// A hold put on with metadata backups off changes neither a backup nor
	// /dev/mapper: the VG's seqno on its PV shows it, at once, not a
	// TrustAge (a minute) later; the backup behind it allows no catch-up.
	renamed := d.lvmCommands(t)
	mustSh(t, "lvchange -qq --autobackup n --addtag snapfs_hold e2e/s4")
	waitFor(t, 10*time.Second, "the hold put on with backups off", func() bool {
		return strings.Contains(readFile(t, d.path("e2e/web/s4/status")), "held: yes\n")
	})
	if n := d.lvmCommands(t) - renamed; n != 1 {
		t.Errorf("snapfs ran %d LVM commands after a change with backups off, want 1 report", n)
	}

	// LVM in the middle of a change, as an lvcreate by hand is between
	// making the snapshot's devices and writing the metadata backup: a
	// device of the VG's in /dev/mapper that the model lacks, while the
	// VG's lock is held (here by flock(1), as LVM holds it). An access
	// then cannot catch up; it waits for the lock to go and catches up
	// from what the change left, here the device gone again, rather than
	// run a report that would wait for the same lock and then read every
	// LV of the VG.
	seen := d.lvmCommands(t)
	holder := exec.Command("flock", "-x", "/run/lock/lvm/V_e2e", "sh", "-c",
		// No udev here: dmsetup mknodes makes the node, and removes it.
		"dmsetup create e2e-halfmade --table '0 8 zero' && dmsetup mknodes e2e-halfmade && sleep 3; dmsetup remove e2e-halfmade; dmsetup mknodes")
	var out strings.Builder
	holder.Stdout, holder.Stderr = &out, &out
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the device of the change half done", func() bool { _, err := os.Stat("/dev/mapper/e2e-halfmade"); return err == nil })
	time.Sleep(2500 * time.Millisecond) // the model past MaxAge and StaleGrace: an access reads LVM itself
	mustSh(t, "ls "+d.path("e2e/web")+" >/dev/null")
	if err := holder.Wait(); err != nil {
		t.Fatalf("holding the VG's lock: %v\n%s", err, &out)
	}
	if n := d.lvmCommands(t) - seen; n != 0 {
		t.Errorf("snapfs ran %d LVM commands for an access during a change of LVM's, want none (a catch-up once it ended):\n%s", n, d.logs.String())
	}
}
