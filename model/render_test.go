package model

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/snapfs/snapfs/lvm"
)

// renderJSON writes each key and value as encoding/json does, strings that
// need escaping included: the reference is encoding/json itself.
func TestRenderJSONAsEncodingJSON(t *testing.T) {
	strs := []string{"", "web", "vg/web-disk.before_1+2", "a \"quoted\" \\ name", "<script>&</script>",
		"tab\there", "newline\n", "\x7f", "é ünïcode", "line\u2028sep", "bad \xff utf-8", "domu1 running, domu2 paused"}
	var fields []field
	for i, s := range strs {
		fields = append(fields, str(fmt.Sprintf("key%d", i), s), str("k<"+s, "v"))
	}
	fields = append(fields, num("n0", 0), num("big", 1<<63+5), count("c", 42), count("neg", -3), yesno("y", true), yesno("n", false),
		pct("p", lvm.Percent{Hundredths: 486, Valid: true}), pct("none", lvm.Percent{}), pct("full", lvm.Percent{Hundredths: 10000, Valid: true}),
		timestamp("t", time.Date(2026, 12, 6, 12, 46, 51, 0, time.UTC)), timestamp("zero", time.Time{}),
		field{"dash", "-", jsonNull})
	got := renderJSON(fields)

	// The reference: encoding/json of each key and of its value.
	var want bytes.Buffer
	want.WriteByte('{')
	for i, f := range fields {
		if i > 0 {
			want.WriteByte(',')
		}
		var v any
		switch f.JSON {
		case jsonString:
			v = f.Text
		case jsonNumber:
			v = json.Number(f.Text)
		case jsonBool:
			v = f.Text == "yes"
		}
		k, _ := json.Marshal(f.Key)
		val, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s: %v", f.Key, err)
		}
		want.Write(k)
		want.WriteByte(':')
		want.Write(val)
	}
	want.WriteString("}\n")
	if string(got) != want.String() {
		t.Errorf("renderJSON\n%s\nencoding/json\n%s", got, want.String())
	}
	var decoded map[string]any
	if err := json.Unmarshal(got, &decoded); err != nil {
		t.Errorf("not JSON: %v", err)
	}
}

// formatPercent prints two decimals as "%d.%02d" of the hundredths does.
func TestFormatPercent(t *testing.T) {
	for _, h := range []int64{0, 1, 9, 10, 62, 99, 100, 486, 999, 1000, 5029, 9999, 10000, 123456, -1, -99, -100, -486} {
		p := lvm.Percent{Hundredths: h, Valid: true}
		if got, want := formatPercent(p), fmt.Sprintf("%d.%02d", h/100, h%100); got != want {
			t.Errorf("formatPercent(%d) = %q, want %q", h, got, want)
		}
	}
	if got := string(allocatedFile(LiveStatus{Allocated: lvm.Percent{Hundredths: 486, Valid: true}})); got != "4.86\n" {
		t.Errorf("allocated %q", got)
	}
}

// renderText writes "key: value" lines.
func TestRenderText(t *testing.T) {
	got := renderText([]field{str("name", "web"), str("domu", ""), yesno("open", false), num("size", 1<<30)})
	if want := "name: web\ndomu: -\nopen: no\nsize: 1073741824\n"; string(got) != want {
		t.Errorf("renderText\n%s\nwant\n%s", got, want)
	}
}
