package model

import (
	"context"

	"strings"
	"testing"

	"github.com/snapfs/snapfs/lvm"
	"github.com/snapfs/snapfs/lvm/lvmtest"
)

// Each change to the fake LVM, between two models, is the change Diff
// names; other changes (an origin, a pool, an extension) are none.
func TestDiff(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		change func(l *lvmtest.LVM) error
		want   string
	}{
		{"nothing", func(*lvmtest.LVM) error { return nil }, ""},
		{"snapshot taken", func(l *lvmtest.LVM) error {
			return l.CreateSnapshot(ctx, "vg", "web", "new", lvm.SizeSpec{Size: "8M"})
		}, "created vg/web/new"},
		{"thin snapshot of a thin snapshot", func(l *lvmtest.LVM) error {
			return l.CreateSnapshot(ctx, "vg", "dbsnap", "deeper", lvm.SizeSpec{})
		}, "created vg/db/dbsnap/deeper"},
		{"snapshot removed", func(l *lvmtest.LVM) error { return l.Remove(ctx, "vg", "snap1") }, "removed vg/web/snap1"},
		{"snapshot renamed", func(l *lvmtest.LVM) error { return l.Rename(ctx, "vg", "snap1", "renamed") },
			"renamed vg/web/snap1 -> vg/web/renamed"},
		{"merge started", func(l *lvmtest.LVM) error { return l.Merge(ctx, "vg", "snap1") }, "merge-started vg/web/snap1"},
		{"snapshot extended", func(l *lvmtest.LVM) error { return l.Extend(ctx, "vg", "snap1", "8M") }, ""},
		{"origin renamed", func(l *lvmtest.LVM) error { return l.Rename(ctx, "vg", "web", "www") }, ""},
		{"origin made", func(l *lvmtest.LVM) error {
			l.Add(lvm.LV{Name: "other", VG: "vg", Attr: lvmtest.MustAttr("-wi-a-----"), Size: 8 << 20})
			return nil
		}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := lvmtest.New()
			before := treeOf(t, l)
			if err := tc.change(l); err != nil {
				t.Fatal(err)
			}
			if got := describe(Diff(before, treeOf(t, l))); got != tc.want {
				t.Errorf("changes %q, want %q", got, tc.want)
			}
		})
	}
}

// A merging snapshot that LVM removes was merged; one created merging
// already (seen late) was created and began to merge.
func TestDiffMerge(t *testing.T) {
	ctx := context.Background()
	l := lvmtest.New()
	if err := l.Merge(ctx, "vg", "snap1"); err != nil {
		t.Fatal(err)
	}
	merging := treeOf(t, l)
	if got := describe(Diff(treeOf(t, lvmtest.New()), merging)); got != "merge-started vg/web/snap1" {
		t.Errorf("merge: %q", got)
	}
	l.Mu.Lock()
	l.LVs = removeLV(l.LVs, "snap1")
	l.Mu.Unlock()
	if got := describe(Diff(merging, treeOf(t, l))); got != "merged vg/web/snap1" {
		t.Errorf("merge ended: %q", got)
	}
	empty := lvmtest.New()
	empty.Mu.Lock()
	empty.LVs = removeLV(empty.LVs, "snap1")
	empty.Mu.Unlock()
	if got := describe(Diff(treeOf(t, empty), merging)); got != "created vg/web/snap1, merge-started vg/web/snap1" {
		t.Errorf("a snapshot first seen merging: %q", got)
	}
	if Diff(nil, merging) != nil || Diff(merging, nil) != nil {
		t.Error("Diff with no model")
	}
}

func removeLV(lvs []lvm.LV, name string) []lvm.LV {
	var kept []lvm.LV
	for _, lv := range lvs {
		if lv.Name != name {
			kept = append(kept, lv)
		}
	}
	return kept
}

func treeOf(t *testing.T, l *lvmtest.LVM) *Tree {
	t.Helper()
	r, err := l.Report(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return BuildTree(r, nil)
}

func describe(changes []Change) string {
	var parts []string
	for _, c := range changes {
		s := c.Kind + " "
		if c.Kind == ChangeRenamed {
			s += c.OldPath + " -> "
		}
		parts = append(parts, s+c.Path)
	}
	return strings.Join(parts, ", ")
}
