package checkpoint

import "strings"

// tagPrefix starts every checkpoint tag. The tags live in LVM's metadata,
// where the next snapfs, perhaps a newer binary, finds the snapshots of a
// checkpoint by them: change neither the prefix nor the encoding.
const tagPrefix = "snapfs_checkpoint:"

// upperHex are the digits of an escape; only upper case is read back, so
// that each domain and name has exactly one tag.
const upperHex = "0123456789ABCDEF"

// Tag is the LVM tag that marks a snapshot as part of checkpoint name of
// domain: "snapfs_checkpoint:" DOMAIN ":" NAME, each escaped so that the tag
// stays within LVM's tag characters (A-Z a-z 0-9 _ + . - / = ! : & #) and the
// separator is the only ':'. A byte outside those characters, and '#' and
// ':' themselves, become '#' and two upper-case hex digits: "web 1" is
// "web#201", "a#b" is "a#23b". The tag is at most 19 + 3*(len(domain) +
// len(name)) bytes; a checkpoint name that passed CheckName is never
// escaped. ParseTag reverses it.
func Tag(domain, name string) string {
	var b strings.Builder
	b.Grow(len(tagPrefix) + 1 + len(domain) + len(name))
	b.WriteString(tagPrefix)
	escapeTag(&b, domain)
	b.WriteByte(':')
	escapeTag(&b, name)
	return b.String()
}

// ParseTag returns the domain and checkpoint name that Tag encoded in tag;
// ok is false for any other tag, including one that Tag would not produce
// (an unknown character, an escape that is malformed, in lower case or of a
// character that needs none) and one with an empty domain or name.
func ParseTag(tag string) (domain, name string, ok bool) {
	rest, ok := strings.CutPrefix(tag, tagPrefix)
	if !ok {
		return "", "", false
	}
	d, n, ok := strings.Cut(rest, ":")
	if !ok {
		return "", "", false
	}
	domain, okDomain := unescapeTag(d)
	name, okName := unescapeTag(n)
	if !okDomain || !okName || domain == "" || name == "" {
		return "", "", false
	}
	return domain, name, true
}

// literal reports whether Tag writes c as it is: a tag character other
// than '#', which starts an escape, and ':', which separates domain and name.
func literal(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("_+.-/=!&", c) >= 0
}

func escapeTag(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if literal(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('#')
		b.WriteByte(upperHex[c>>4])
		b.WriteByte(upperHex[c&0xF])
	}
}

// unescapeTag reverses escapeTag, refusing anything escapeTag would not
// have written, so that the encoding stays one to one.
func unescapeTag(s string) (string, bool) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if literal(c) {
			b.WriteByte(c)
			continue
		}
		if c != '#' || i+2 >= len(s) {
			return "", false
		}
		hi := strings.IndexByte(upperHex, s[i+1])
		lo := strings.IndexByte(upperHex, s[i+2])
		if hi < 0 || lo < 0 || literal(byte(hi<<4|lo)) {
			return "", false
		}
		b.WriteByte(byte(hi<<4 | lo))
		i += 2
	}
	return b.String(), true
}
