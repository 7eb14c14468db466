package spec

import (
	"fmt"
	"strings"

	galev1 "github.com/gale-stream/gale/proto/gale/v1"
	"github.com/gale-stream/gale/sdk/internal/hint"
)

// groupingNames are the user-facing grouping names, in enum order, as YAML,
// --help texts and error messages spell them.
var groupingNames = []struct {
	name string
	typ  galev1.GroupingType
}{
	{"shuffle", galev1.GroupingType_GROUPING_TYPE_SHUFFLE},
	{"fields", galev1.GroupingType_GROUPING_TYPE_FIELDS},
	{"all", galev1.GroupingType_GROUPING_TYPE_ALL},
	{"global", galev1.GroupingType_GROUPING_TYPE_GLOBAL},
	{"direct", galev1.GroupingType_GROUPING_TYPE_DIRECT},
	{"local_or_shuffle", galev1.GroupingType_GROUPING_TYPE_LOCAL_OR_SHUFFLE},
	{"partial_key", galev1.GroupingType_GROUPING_TYPE_PARTIAL_KEY},
	{"none", galev1.GroupingType_GROUPING_TYPE_NONE},
}

// groupingList is the list of names for "use one of" messages.
func groupingList() string { return strings.Join(groupingNamesOnly(), ", ") }

// ParseGrouping reads a grouping name: shuffle, fields, all, global,
// direct, local_or_shuffle, partial_key or none. Case does not matter and
// '-' may stand for '_', so Flux's FIELDS and LOCAL_OR_SHUFFLE and the
// friendlier local-or-shuffle all work. The error lists the valid names.
func ParseGrouping(name string) (galev1.GroupingType, error) {
	norm := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(name)), "-", "_")
	for _, g := range groupingNames {
		if g.name == norm {
			return g.typ, nil
		}
	}
	msg := fmt.Sprintf("unknown grouping '%s'; use one of %s", name, groupingList())
	if norm == "custom" {
		msg += " (custom groupings are not supported)"
	} else if s := hint.Suggest(norm, groupingNamesOnly()); s != "" {
		msg += fmt.Sprintf(" (did you mean '%s'?)", s)
	}
	return galev1.GroupingType_GROUPING_TYPE_UNSPECIFIED, fmt.Errorf("%s", msg)
}

func groupingNamesOnly() []string {
	out := make([]string, len(groupingNames))
	for i, g := range groupingNames {
		out[i] = g.name
	}
	return out
}

// knownGrouping reports whether t is a grouping Gale implements.
func knownGrouping(t galev1.GroupingType) bool {
	for _, g := range groupingNames {
		if g.typ == t {
			return true
		}
	}
	return false
}

// GroupingName returns the user-facing name of t ("fields"), or a
// description of an invalid value, for messages.
func GroupingName(t galev1.GroupingType) string {
	for _, g := range groupingNames {
		if g.typ == t {
			return g.name
		}
	}
	if t == galev1.GroupingType_GROUPING_TYPE_UNSPECIFIED {
		return "unspecified"
	}
	return fmt.Sprintf("unknown grouping type %d", int32(t))
}

// kindName is "spout", "bolt" or "component" (unset or unknown kind).
func kindName(k galev1.ComponentKind) string {
	switch k {
	case galev1.ComponentKind_COMPONENT_KIND_SPOUT:
		return "spout"
	case galev1.ComponentKind_COMPONENT_KIND_BOLT:
		return "bolt"
	}
	return "component"
}

// validName reports whether s is a valid topology, component or stream
// id: 1 to 64 characters of [A-Za-z0-9._-]. The charset keeps ids safe in
// etcd keys, file names, metric labels and URLs without escaping.
func validName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// nameRule is the charset rule for messages.
const nameRule = "use 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'"

// joinNames formats names as a comma-separated list for messages, showing
// at most max of them so a huge topology does not flood the terminal.
func joinNames(names []string, max int) string {
	if len(names) > max {
		return strings.Join(names[:max], ", ") + fmt.Sprintf(", ... (%d more)", len(names)-max)
	}
	return strings.Join(names, ", ")
}
