package events

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// keysInOrder walks the JSON object in line token by token and returns its
// keys in the order they appear in the bytes, and fails the test if line is
// not one flat object.
func keysInOrder(t *testing.T, line []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("line does not open an object: %v %v\n%s", tok, err, line)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatalf("key: %v\n%s", err, line)
		}
		key, ok := tok.(string)
		if !ok {
			t.Fatalf("key %v is not a string\n%s", tok, line)
		}
		keys = append(keys, key)
		if tok, err = dec.Token(); err != nil {
			t.Fatalf("value of %q: %v\n%s", key, err, line)
		}
		if _, nested := tok.(json.Delim); nested {
			t.Fatalf("value of %q is not a scalar\n%s", key, line)
		}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		t.Fatalf("line does not close its object: %v %v\n%s", tok, err, line)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("more after the object: %v\n%s", err, line)
	}
	return keys
}

func TestLine(t *testing.T) {
	berlin := time.FixedZone("CEST", 2*60*60)
	at := time.Date(2024, 5, 1, 12, 30, 15, 987654321, berlin)
	const atUTC = "2024-05-01T10:30:15Z"

	tests := []struct {
		name     string
		event    Event
		wantKeys []string
		want     map[string]any // as decoded with UseNumber
		contains string         // a piece the raw line must hold
	}{
		{
			name:     "merged, nothing extra",
			event:    Event{Time: at, Name: Merged, Path: "vg/web-disk/nightly"},
			wantKeys: []string{"time", "event", "path"},
			want:     map[string]any{"time": atUTC, "event": "merged", "path": "vg/web-disk/nightly"},
		},
		{
			name: "renamed keeps Extra in its order",
			event: Event{Time: at, Name: Renamed, Path: "vg/web-disk/a",
				Extra: []Field{{"to", "vg/web-disk/b"}, {"by", "outside"}}},
			wantKeys: []string{"time", "event", "path", "to", "by"},
			want: map[string]any{"time": atUTC, "event": "renamed", "path": "vg/web-disk/a",
				"to": "vg/web-disk/b", "by": "outside"},
		},
		{
			name: "numbers are numbers",
			event: Event{Time: at, Name: Extended, Path: "vg/web-disk/nightly",
				Extra: []Field{
					{"from", uint64(1) << 40}, {"to", uint64(math.MaxUint64)}, {"by", "guard"},
					{"allocated", 81.25}, {"full_in", int64(3600)}, {"n", 7}, {"free", json.Number("1073741824")},
				}},
			wantKeys: []string{"time", "event", "path", "from", "to", "by", "allocated", "full_in", "n", "free"},
			want: map[string]any{"time": atUTC, "event": "extended", "path": "vg/web-disk/nightly",
				"from": json.Number("1099511627776"), "to": json.Number("18446744073709551615"), "by": "guard",
				"allocated": json.Number("81.25"), "full_in": json.Number("3600"), "n": json.Number("7"),
				"free": json.Number("1073741824")},
			contains: `"to":18446744073709551615,`,
		},
		{
			name: "strings are escaped",
			event: Event{Time: at, Name: Pruned, Path: "vg/o\"r\\igin/snap\nshot\tü",
				Extra: []Field{{"reason", "a <b> & c\x01"}}},
			wantKeys: []string{"time", "event", "path", "reason"},
			want: map[string]any{"time": atUTC, "event": "pruned", "path": "vg/o\"r\\igin/snap\nshot\tü",
				"reason": "a <b> & c\x01"},
			contains: `"reason":"a <b> & c\u0001"`, // HTML characters are left alone
		},
		{
			name: "keys are not repeated",
			event: Event{Time: at, Name: Created, Path: "vg/web-disk/nightly",
				Extra: []Field{{"time", "x"}, {"event", "x"}, {"by", "schedule"}, {"path", "x"}, {"by", "snapfs"}}},
			wantKeys: []string{"time", "event", "path", "by"},
			want: map[string]any{"time": atUTC, "event": "created", "path": "vg/web-disk/nightly",
				"by": "schedule"},
		},
		{
			name: "bools, and null for what JSON cannot hold",
			event: Event{Time: at, Name: Invalid, Path: "vg/web-disk/nightly",
				Extra: []Field{{"held", true}, {"allocated", math.NaN()}, {"bad", json.Number("1e")}}},
			wantKeys: []string{"time", "event", "path", "held", "allocated", "bad"},
			want: map[string]any{"time": atUTC, "event": "invalid", "path": "vg/web-disk/nightly",
				"held": true, "allocated": nil, "bad": nil},
		},
		{
			name: "a Xen checkpoint",
			event: Event{Time: at.UTC(), Name: Checkpoint, Path: "xen/buildsid/before-upgrade",
				Extra: []Field{{"domain", "buildsid"}}},
			wantKeys: []string{"time", "event", "path", "domain"},
			want: map[string]any{"time": atUTC, "event": "checkpoint", "path": "xen/buildsid/before-upgrade",
				"domain": "buildsid"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := tt.event.Line()
			if !bytes.HasSuffix(line, []byte("}\n")) || bytes.Count(line, []byte("\n")) != 1 {
				t.Fatalf("not one object and one newline: %q", line)
			}
			if keys := keysInOrder(t, line); !reflect.DeepEqual(keys, tt.wantKeys) {
				t.Errorf("keys %q, want %q", keys, tt.wantKeys)
			}
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.UseNumber()
			var got map[string]any
			if err := dec.Decode(&got); err != nil {
				t.Fatalf("parse %q: %v", line, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %#v\nwant %#v", got, tt.want)
			}
			stamp, _ := got["time"].(string)
			when, err := time.Parse(time.RFC3339, stamp)
			if err != nil || !strings.HasSuffix(stamp, "Z") {
				t.Errorf("time %q is not RFC 3339 in UTC: %v", stamp, err)
			} else if !when.Equal(tt.event.Time.Truncate(time.Second)) {
				t.Errorf("time %v, want %v", when, tt.event.Time.Truncate(time.Second))
			}
			if tt.contains != "" && !bytes.Contains(line, []byte(tt.contains)) {
				t.Errorf("line %s does not hold %s", line, tt.contains)
			}
		})
	}
}

func TestLostLine(t *testing.T) {
	for _, tt := range []struct {
		count int
		want  string
	}{
		{1, "{\"event\":\"lost\",\"count\":1}\n"},
		{7, "{\"event\":\"lost\",\"count\":7}\n"},
		{123456, "{\"event\":\"lost\",\"count\":123456}\n"},
	} {
		if got := string(lostLine(tt.count)); got != tt.want {
			t.Errorf("lostLine(%d) = %q, want %q", tt.count, got, tt.want)
		}
	}
}
