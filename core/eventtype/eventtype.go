// Package eventtype holds the one definition of a valid event type
// ("<namespace>.<action>"). It is a leaf of the standard library only, so
// that core, the plugin host and the native plugin SDK harness (which must
// not pull in core) all apply the same rule.
package eventtype

// MaxLen is the longest event type, in bytes.
const MaxLen = 64

// Valid reports whether t is a valid event type "<namespace>.<action>":
// both parts non-empty, of lower-case ASCII letters, digits, '_' and '-',
// at most MaxLen bytes in all.
func Valid(t string) bool {
	dot := -1
	if len(t) > MaxLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		switch c := t[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_', c == '-':
		case c == '.' && dot < 0:
			dot = i
		default:
			return false
		}
	}
	return dot > 0 && dot < len(t)-1
}
