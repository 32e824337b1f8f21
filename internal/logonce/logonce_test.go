package logonce

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestWarnOncePerKey(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, nil)))
	l.Warn("a", "first a")
	l.Warn("a", "second a")
	l.Warn("b", "first b")
	got := buf.String()
	if strings.Count(got, "level=WARN") != 2 || !strings.Contains(got, "first a") ||
		strings.Contains(got, "second a") || !strings.Contains(got, "first b") {
		t.Errorf("log:\n%s\nwant one warning for a and one for b", got)
	}
}
