package spec

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrorFormat(t *testing.T) {
	for _, tc := range []struct {
		e    Error
		want string
	}{
		{Error{File: "a.yaml", Line: 3, Column: 7, Msg: "bad"}, "a.yaml:3:7: bad"},
		{Error{File: "a.yaml", Line: 3, Msg: "bad"}, "a.yaml:3: bad"},
		{Error{File: "a.yaml", Column: 7, Msg: "bad"}, "a.yaml: bad"},
		{Error{File: "a.yaml", Msg: "bad"}, "a.yaml: bad"},
		{Error{Line: 3, Column: 7, Msg: "bad"}, "3:7: bad"},
		{Error{Msg: "bad"}, "bad"},
	} {
		if got := tc.e.Error(); got != tc.want {
			t.Errorf("%+v.Error() = %q, want %q", tc.e, got, tc.want)
		}
	}
}

func TestErrorList(t *testing.T) {
	var empty ErrorList
	if empty.Err() != nil {
		t.Error("empty.Err() != nil")
	}
	l := ErrorList{
		{File: "f", Line: 9, Msg: "c"},
		{File: "f", Msg: "no line"},
		{File: "f", Line: 2, Column: 5, Msg: "b"},
		{File: "f", Line: 2, Column: 1, Msg: "a"},
	}.finish("f")
	if got, want := l.Error(), "f: no line\nf:2:1: a\nf:2:5: b\nf:9: c"; got != want {
		t.Errorf("sorted list:\n%s\nwant:\n%s", got, want)
	}
	err := fmt.Errorf("load: %w", l.Err())
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 4 {
		t.Errorf("errors.As(ErrorList) through wrapping failed")
	}
	var one *Error
	if !errors.As(err, &one) || one.Msg != "no line" {
		t.Errorf("errors.As(*Error) = %v", one)
	}
}

func TestPath(t *testing.T) {
	p := Path{}.Field("components").Index(2).Field("inputs").Index(0).Field("grouping").Field("fields").Index(1)
	if got := p.String(); got != "components[2].inputs[0].grouping.fields[1]" {
		t.Errorf("String() = %q", got)
	}
	if got := (Path{}).Field("config").Key(`a."b`).String(); got != `config["a.\"b"]` {
		t.Errorf("key path = %q", got)
	}
	if i, ok := p.Component(); !ok || i != 2 {
		t.Errorf("Component() = %d, %v", i, ok)
	}
	if _, ok := (Path{}).Field("config").Component(); ok {
		t.Error("config path is in a component")
	}
	if !p.HasPrefix(componentPath(2)) || p.HasPrefix(componentPath(1)) || !p.HasPrefix(nil) || componentPath(2).HasPrefix(p) {
		t.Error("HasPrefix is wrong")
	}
	// Extending a path never changes the original (no shared backing
	// array between siblings).
	base := Path{}.Field("a").Index(1)
	x, y := base.Field("x"), base.Field("y")
	if x.String() != "a[1].x" || y.String() != "a[1].y" || base.String() != "a[1]" {
		t.Errorf("paths alias: %s %s %s", base, x, y)
	}
}
