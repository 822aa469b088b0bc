package core

import (
	"sort"
	"strings"
)

// StaticPlugins is a Plugins that enables the same handlers in every room.
type StaticPlugins map[string]Handler

var _ Plugins = StaticPlugins(nil)

// Handler returns the handler registered for namespace.
func (s StaticPlugins) Handler(_ string, namespace string) Handler { return s[namespace] }

// Features returns the registered namespaces, sorted.
func (s StaticPlugins) Features(string) []string {
	out := make([]string, 0, len(s))
	for ns := range s {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// SplitType splits a plugin frame type "<namespace>.<action>". ok is false
// when t has no dot or an empty part.
func SplitType(t string) (namespace, action string, ok bool) {
	i := strings.IndexByte(t, '.')
	if i <= 0 || i == len(t)-1 {
		return "", "", false
	}
	return t[:i], t[i+1:], true
}

// MatchRoom reports whether room matches pattern: an exact id, "prefix*" or
// "*". It is used for token room claims and plugin room selection alike.
func MatchRoom(pattern, room string) bool {
	if strings.HasSuffix(pattern, "*") {
		return strings.HasPrefix(room, pattern[:len(pattern)-1])
	}
	return pattern == room
}
