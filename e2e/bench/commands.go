package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// pair runs a and h, alternating which goes first, so that neither always
// runs on caches the other warmed.
func pair(i int, a, h func() error) error {
	first, second := a, h
	if i%2 == 1 {
		first, second = h, a
	}
	if err := first(); err != nil {
		return err
	}
	return second()
}

// timed runs argv with its output discarded and returns how long it took.
func timed(argv ...string) (time.Duration, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.Discard, &stderr
	start := time.Now()
	err := cmd.Run()
	d := time.Since(start)
	if err != nil {
		return d, fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, stderr.Bytes())
	}
	return d, nil
}

// timing returns a function that runs argv and adds how long it took to
// into.
func timing(into *[]time.Duration, argv ...string) func() error {
	return func() error {
		d, err := timed(argv...)
		*into = append(*into, d)
		return err
	}
}

func sh(argv ...string) error {
	_, err := output(argv...)
	return err
}

func output(argv ...string) (string, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, stderr.Bytes())
	}
	return stdout.String(), nil
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

func readFile(path string) []byte {
	data, _ := os.ReadFile(path)
	return data
}

// logSize is the length of the file at path (snapfs's log), 0 when it
// cannot be read: where a later logSince takes up.
func logSize(path string) int {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return int(fi.Size())
}

// logSince returns what the file at path has after its first seen bytes.
func logSince(path string, seen int) []byte {
	data := readFile(path)
	return data[min(seen, len(data)):]
}
