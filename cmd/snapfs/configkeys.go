package main

import (
	"bytes"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
)

// keyLine finds the line where key k is set, for error messages about keys
// the TOML decoder accepted (unknown keys, bad values). It sees keys in
// tables, dotted keys and keys inside inline tables, also when an inline
// table spans lines; a key that names a table is found at its header, or
// at the first key set under it. It returns 0 when the line cannot be found.
func keyLine(data []byte, k toml.Key) int {
	if len(k) == 0 {
		return 0
	}
	found, under := 0, 0
	walkKeys(data, func(key []string, line int) bool {
		if slices.Equal(key, k) {
			found = line
			return true
		}
		if under == 0 && len(key) > len(k) && slices.Equal(key[:len(k)], k) {
			under = line
		}
		return false
	})
	if found == 0 {
		return under
	}
	return found
}

// walkKeys calls visit with the full name and the line of every table header
// and every key the TOML document sets, in order, until visit returns true.
// It reads only as much of TOML as it takes to find keys: the decoder has
// checked the syntax already.
func walkKeys(data []byte, visit func(key []string, line int) bool) {
	s := &keyScanner{data: data, line: 1}
	var table []string
	for s.i < len(s.data) {
		s.skipBlank(true)
		start, line := s.i, s.line
		if s.peek() == 0 {
			return
		}
		if s.peek() == '[' {
			s.i++
			if s.peek() == '[' { // an array of tables
				s.i++
			}
			table = s.readKey()
			if len(table) > 0 && visit(table, line) {
				return
			}
		} else if key := s.readKey(); len(key) > 0 {
			full := append(slices.Clone(table), key...)
			if visit(full, line) {
				return
			}
			s.skipBlank(false)
			if s.peek() == '=' {
				s.i++
				if s.value(full, visit) {
					return
				}
			}
		}
		if s.i == start { // not TOML that sets a key: go on at the next line
			s.skipLine()
		}
	}
}

// keyScanner holds the position of walkKeys in the document.
type keyScanner struct {
	data []byte
	i    int
	line int
}

func (s *keyScanner) peek() byte {
	if s.i < len(s.data) {
		return s.data[s.i]
	}
	return 0
}

func (s *keyScanner) next() byte {
	c := s.data[s.i]
	s.i++
	if c == '\n' {
		s.line++
	}
	return c
}

// skipBlank skips spaces and comments, and newlines too when newlines is set.
func (s *keyScanner) skipBlank(newlines bool) {
	for s.i < len(s.data) {
		switch s.data[s.i] {
		case ' ', '\t', '\r':
			s.i++
		case '\n':
			if !newlines {
				return
			}
			s.next()
		case '#':
			s.skipLine()
		default:
			return
		}
	}
}

// skipLine moves to the newline that ends the current line.
func (s *keyScanner) skipLine() {
	for s.i < len(s.data) && s.data[s.i] != '\n' {
		s.i++
	}
}

// readKey reads a dotted key, bare or quoted parts, and returns its parts.
func (s *keyScanner) readKey() []string {
	var parts []string
	for {
		s.skipBlank(false)
		switch c := s.peek(); {
		case c == '"' || c == '\'':
			parts = append(parts, s.readString())
		case isBareKeyChar(c):
			start := s.i
			for isBareKeyChar(s.peek()) {
				s.i++
			}
			parts = append(parts, string(s.data[start:s.i]))
		default:
			return parts
		}
		s.skipBlank(false)
		if s.peek() != '.' {
			return parts
		}
		s.i++
	}
}

func isBareKeyChar(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

// readString reads a basic or literal string, one-line or multi-line, and
// returns its content; of the escapes it only undoes the backslash itself,
// which is enough to compare key names.
func (s *keyScanner) readString() string {
	q := s.data[s.i]
	delim := []byte{q}
	if bytes.HasPrefix(s.data[s.i:], []byte{q, q, q}) {
		delim = []byte{q, q, q}
	}
	s.i += len(delim)
	var b strings.Builder
	for s.i < len(s.data) {
		if bytes.HasPrefix(s.data[s.i:], delim) {
			s.i += len(delim)
			break
		}
		if len(delim) == 1 && s.data[s.i] == '\n' { // unterminated
			break
		}
		c := s.next()
		if c == '\\' && q == '"' && s.i < len(s.data) {
			c = s.next()
		}
		b.WriteByte(c)
	}
	return b.String()
}

// value skips the value of key, reporting to visit the keys of an inline
// table, and returns true when visit did.
func (s *keyScanner) value(key []string, visit func([]string, int) bool) bool {
	s.skipBlank(false)
	switch c := s.peek(); c {
	case '{':
		s.i++
		for {
			s.skipBlank(true)
			switch s.peek() {
			case 0:
				return false
			case '}':
				s.i++
				return false
			case ',':
				s.i++
				continue
			}
			line := s.line
			inner := s.readKey()
			if len(inner) == 0 {
				return false
			}
			full := append(slices.Clone(key), inner...)
			if visit != nil && visit(full, line) {
				return true
			}
			s.skipBlank(false)
			if s.peek() != '=' {
				return false
			}
			s.i++
			if s.value(full, visit) {
				return true
			}
		}
	case '[':
		// Keys in arrays of inline tables have no name of their own.
		s.i++
		for {
			s.skipBlank(true)
			switch s.peek() {
			case 0:
				return false
			case ']':
				s.i++
				return false
			case ',':
				s.i++
				continue
			}
			start := s.i
			s.value(nil, nil)
			if s.i == start {
				return false
			}
		}
	case '"', '\'':
		s.readString()
	default:
		for s.i < len(s.data) && !strings.ContainsRune(",}]\n#", rune(s.data[s.i])) {
			s.i++
		}
	}
	return false
}
