package lvmtest

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/snapfs/snapfs/lvm"
)

func reportedTags(t *testing.T, f *LVM, vg, name string) []string {
	t.Helper()
	r, err := f.Report(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lv := r.LV(vg, name)
	if lv == nil {
		t.Fatalf("%s/%s not in the report", vg, name)
	}
	return lv.Tags
}

func TestTags(t *testing.T) {
	ctx := context.Background()
	f := New()
	before, err := f.Report(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name     string
		call     func() error
		wantCall string
		want     []string
	}{
		{"add", func() error { return f.AddTag(ctx, "vg", "snap1", "snapfs_hold") },
			"lvm lvchange --addtag snapfs_hold vg/snap1", []string{"snapfs_hold"}},
		{"add sorts", func() error { return f.AddTag(ctx, "vg", "snap1", "snapfs_expires_1800000000") },
			"lvm lvchange --addtag snapfs_expires_1800000000 vg/snap1", []string{"snapfs_expires_1800000000", "snapfs_hold"}},
		{"add again", func() error { return f.AddTag(ctx, "vg", "snap1", "snapfs_hold") },
			"lvm lvchange --addtag snapfs_hold vg/snap1", []string{"snapfs_expires_1800000000", "snapfs_hold"}},
		{"delete", func() error { return f.DelTag(ctx, "vg", "snap1", "snapfs_hold") },
			"lvm lvchange --deltag snapfs_hold vg/snap1", []string{"snapfs_expires_1800000000"}},
		{"delete absent", func() error { return f.DelTag(ctx, "vg", "snap1", "snapfs_auto") },
			"lvm lvchange --deltag snapfs_auto vg/snap1", []string{"snapfs_expires_1800000000"}},
		{"delete last", func() error { return f.DelTag(ctx, "vg", "snap1", "snapfs_expires_1800000000") },
			"lvm lvchange --deltag snapfs_expires_1800000000 vg/snap1", nil},
	}
	for _, s := range steps {
		if err := s.call(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := f.LastCall(); got != s.wantCall {
			t.Errorf("%s: call %q, want %q", s.name, got, s.wantCall)
		}
		if got := reportedTags(t, f, "vg", "snap1"); !reflect.DeepEqual(got, s.want) {
			t.Errorf("%s: reported tags %q, want %q", s.name, got, s.want)
		}
	}
	if got := before.LV("vg", "snap1").Tags; got != nil {
		t.Errorf("a report taken before the changes shows tags %q", got)
	}
	if got := reportedTags(t, f, "vg", "web"); got != nil {
		t.Errorf("web has tags %q", got)
	}
}

// A report handed out keeps its tags when the fake's change later.
func TestTagsReportIsACopy(t *testing.T) {
	ctx := context.Background()
	f := New()
	f.Add(lvm.LV{Name: "kept", VG: "vg", Attr: MustAttr("swi-a-s---"), Origin: "web", Tags: []string{"b", "a", "c"}})
	r, err := f.Report(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.LV("vg", "kept").Tags; !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Fatalf("Add kept tags %q, want them sorted", got)
	}
	r.LV("vg", "kept").Tags[0] = "changed"
	if err := f.DelTag(ctx, "vg", "kept", "b"); err != nil {
		t.Fatal(err)
	}
	if err := f.AddTag(ctx, "vg", "kept", "d"); err != nil {
		t.Fatal(err)
	}
	if got := r.LV("vg", "kept").Tags; !reflect.DeepEqual(got, []string{"changed", "b", "c"}) {
		t.Errorf("the earlier report's tags became %q", got)
	}
	if got := reportedTags(t, f, "vg", "kept"); !reflect.DeepEqual(got, []string{"a", "c", "d"}) {
		t.Errorf("tags %q, want [a c d]", got)
	}
}

func TestTagErrors(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		call     func(f *LVM) error
		want     error
		wantCall string // "" when nothing runs
		message  string
	}{
		{"unknown LV", func(f *LVM) error { return f.AddTag(ctx, "vg", "nosuch", "snapfs_hold") },
			lvm.ErrNotFound, "lvm lvchange --addtag snapfs_hold vg/nosuch", `Failed to find logical volume "vg/nosuch"`},
		{"unknown LV delete", func(f *LVM) error { return f.DelTag(ctx, "vg", "nosuch", "snapfs_hold") },
			lvm.ErrNotFound, "lvm lvchange --deltag snapfs_hold vg/nosuch", `Failed to find logical volume "vg/nosuch"`},
		{"unknown VG", func(f *LVM) error { return f.AddTag(ctx, "novg", "x", "snapfs_hold") },
			lvm.ErrNotFound, "lvm lvchange --addtag snapfs_hold novg/x", `Volume group "novg" not found`},
		{"bad tag", func(f *LVM) error { return f.AddTag(ctx, "vg", "snap1", "a,b") },
			lvm.ErrInvalidTag, "", ""},
		{"queued failure", func(f *LVM) error {
			f.FailNext["lvchange"] = CmdErr(lvm.ErrFailed, 5, nil, "boom")
			return f.DelTag(ctx, "vg", "snap1", "t")
		}, lvm.ErrFailed, "lvm lvchange --deltag t vg/snap1", "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := New()
			err := tt.call(f)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if got := f.LastCall(); got != tt.wantCall {
				t.Errorf("last call %q, want %q", got, tt.wantCall)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Errorf("err = %q, want LVM's words %q", err, tt.message)
			}
		})
	}
}
