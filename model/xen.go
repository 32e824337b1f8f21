package model

import (
	"strings"
	"time"
)

// A Xen domain's directory (MOUNT/xen/DOMAIN) and its checkpoints'.

// DomainStatus is what a domain's status shows.
type DomainStatus struct {
	Name        string
	ID          int    // -1 when not running
	State       string // "" when not running
	Disks       []string
	Checkpoints []string
}

// CheckpointStatus is what a checkpoint's status shows.
type CheckpointStatus struct {
	Name, Domain string
	Created      time.Time
	Memory       bool
	State        string   // ready, reverting, invalid
	Disks        []string // "VG/ORIGIN VG/SNAPSHOT"
}

// RenderDomain renders file (status or status.json) of a domain.
func RenderDomain(file string, d DomainStatus) []byte {
	id := field{"id", "-", jsonNull}
	if d.ID >= 0 {
		id = count("id", d.ID)
	}
	return render(file, []field{
		str("name", d.Name), id, str("state", d.State),
		str("disks", strings.Join(d.Disks, ", ")), str("checkpoints", strings.Join(d.Checkpoints, ", ")),
	})
}

// RenderCheckpoint renders file (status or status.json) of a checkpoint.
func RenderCheckpoint(file string, c CheckpointStatus) []byte {
	return render(file, []field{
		str("name", c.Name), str("domain", c.Domain), timestamp("created", c.Created.UTC()),
		yesno("memory", c.Memory), str("state", c.State), str("disks", strings.Join(c.Disks, ", ")),
	})
}

// RenderCheckpointDisks renders a checkpoint's disks file: one line per
// disk, "VG/ORIGIN VG/SNAPSHOT".
func RenderCheckpointDisks(c CheckpointStatus) []byte {
	var b strings.Builder
	for _, d := range c.Disks {
		b.WriteString(d + "\n")
	}
	return []byte(b.String())
}

func render(file string, fields []field) []byte {
	if file == "status.json" {
		return renderJSON(fields)
	}
	return renderText(fields)
}
