package sdk_test

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/gale-stream/gale/sdk"
)

func recoverSite(f func()) (site string) {
	defer func() {
		if recover() != nil {
			site = sdk.PanicSite()
		}
	}()
	f()
	return ""
}

//go:noinline
func explicitPanic() { panic("boom") } // site:explicit

//go:noinline
func nilDeref(p *int) int { return *p } // site:nil

// siteOf is "sdk/panicsite_test.go:N" for the line of this file that
// carries the marker.
func siteOf(t *testing.T, marker string) string {
	src, err := os.ReadFile("panicsite_test.go")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(src), "\n") {
		if strings.HasSuffix(line, "// "+marker) {
			return "sdk/panicsite_test.go:" + strconv.Itoa(i+1)
		}
	}
	t.Fatalf("no line marked %q", marker)
	return ""
}

// PanicSite names the user's line for an explicit panic, a runtime error
// and a panic inside an SDK method called with bad input.
func TestPanicSite(t *testing.T) {
	var tup *sdk.Tuple
	for _, tc := range []struct {
		name   string
		f      func()
		marker string
	}{
		{"explicit panic", explicitPanic, "site:explicit"},
		{"nil dereference", func() { nilDeref(nil) }, "site:nil"},
		{"inside an SDK method", func() { _ = tup.Str(0) }, "site:sdk"}, // site:sdk
	} {
		if got, want := recoverSite(tc.f), siteOf(t, tc.marker); got != want {
			t.Errorf("%s: PanicSite %q, want %q", tc.name, got, want)
		}
	}
	if got := sdk.PanicSite(); got != "" {
		t.Errorf("PanicSite outside a panic: %q, want \"\"", got)
	}
}
