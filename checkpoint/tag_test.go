package checkpoint

import (
	"strings"
	"testing"

	"github.com/snapfs/snapfs/lvm"
)

func TestTagFormat(t *testing.T) {
	// The tags are in LVM's metadata, read by the next snapfs: pin them.
	tests := []struct{ domain, name, want string }{
		{"web", "before-upgrade", "snapfs_checkpoint:web:before-upgrade"},
		{"web 1", "a#b", "snapfs_checkpoint:web#201:a#23b"},
		{"a:b", "c/d", "snapfs_checkpoint:a#3Ab:c/d"},
		{"é", "x,y", "snapfs_checkpoint:#C3#A9:x#2Cy"},
	}
	for _, tt := range tests {
		if got := Tag(tt.domain, tt.name); got != tt.want {
			t.Errorf("Tag(%q, %q) = %q, want %q", tt.domain, tt.name, got, tt.want)
		}
	}
}

func TestTagRoundTrip(t *testing.T) {
	domains := []string{"web", "web 1", "dömäin", "a#b", "a:b", "a/b", "💾", "#", ":", "#23", "-x", "@x",
		strings.Repeat("\xff", 64), strings.Repeat("ü", 32)}
	names := []string{"pre-upgrade", "with space", "#23", ":", "/x", "ü", "a:b:c", "=!&+._",
		strings.Repeat("#", 100), strings.Repeat("x", 100)}
	seen := map[string]string{}
	for _, d := range domains {
		for _, n := range names {
			tag := Tag(d, n)
			if err := lvm.ValidateTag(tag); err != nil {
				t.Errorf("Tag(%q, %q) = %q: %v", d, n, tag, err)
			}
			if len(tag) > 1024 {
				t.Errorf("Tag(%q, %q) is %d characters, want at most 1024", d, n, len(tag))
			}
			gd, gn, ok := ParseTag(tag)
			if !ok || gd != d || gn != n {
				t.Errorf("ParseTag(%q) = %q, %q, %v; want %q, %q", tag, gd, gn, ok, d, n)
			}
			if prev, dup := seen[tag]; dup {
				t.Errorf("Tag(%q, %q) = %q, as for %s", d, n, tag, prev)
			}
			seen[tag] = d + "/" + n
		}
	}
}

func TestParseTagRefuses(t *testing.T) {
	tests := []string{
		"snapfs_hold",
		"snapfs_auto",
		"snapfs_checkpoint:",
		"snapfs_checkpoint:web",
		"snapfs_checkpoint::a",
		"snapfs_checkpoint:web:",
		"snapfs_checkpoint:web:a:b", // a second ':' is always escaped
		"snapfs_checkpoint:web:a#2",
		"snapfs_checkpoint:web:a#",
		"snapfs_checkpoint:web:a#zz",
		"snapfs_checkpoint:web:a#3a", // lower case
		"snapfs_checkpoint:web:a#41", // "A" needs no escape
		"snapfs_checkpoint:web:a b",
		"Snapfs_checkpoint:web:a",
		"xsnapfs_checkpoint:web:a",
	}
	for _, tag := range tests {
		t.Run(tag, func(t *testing.T) {
			if d, n, ok := ParseTag(tag); ok {
				t.Errorf("ParseTag = %q, %q, true; want false", d, n)
			}
		})
	}
}

func FuzzTag(f *testing.F) {
	f.Add("web 1", "a#b")
	f.Add("\xff:", "/")
	f.Fuzz(func(t *testing.T, domain, name string) {
		tag := Tag(domain, name)
		if domain != "" && name != "" && len(domain)+len(name) <= 300 {
			if err := lvm.ValidateTag(tag); err != nil {
				t.Errorf("Tag(%q, %q) = %q: %v", domain, name, tag, err)
			}
		}
		d, n, ok := ParseTag(tag)
		if ok != (domain != "" && name != "") || ok && (d != domain || n != name) {
			t.Errorf("ParseTag(Tag(%q, %q)) = %q, %q, %v", domain, name, d, n, ok)
		}
	})
}
