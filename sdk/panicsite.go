package sdk

import (
	"path/filepath"
	"reflect"
	"runtime"
	"strconv"
	"strings"
)

// PanicSite says where a recovered panic happened, as "dir/file.go:line",
// for a runtime that runs components and recovers their panics: call it in
// the deferred function that recovers. It names the first frame below the
// runtime's panic machinery outside Go's runtime, this package and
// sdk/attach, so a nil dereference names the bolt's line, and a panic
// inside a Tuple method or an emit the attach SDK refused names the line
// that called it. "" when there is none (not
// called while panicking).
func PanicSite() string {
	var pcs [64]uintptr
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs[:])])
	panicking := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			panicking = true
		case panicking && !inGalesRuntime(f.Function):
			return filepath.Base(filepath.Dir(f.File)) + "/" + filepath.Base(f.File) + ":" + strconv.Itoa(f.Line)
		}
		if !more {
			return ""
		}
	}
}

// galesRuntime are the packages whose frames PanicSite passes over: Go's
// runtime, and the SDK's packages that components call and that check
// what they do.
var galesRuntime = func() []string {
	sdkPkg := reflect.TypeFor[Tuple]().PkgPath() // github.com/gale-stream/gale/sdk
	return []string{"runtime.", sdkPkg + ".", sdkPkg + "/attach."}
}()

func inGalesRuntime(function string) bool {
	for _, p := range galesRuntime {
		if strings.HasPrefix(function, p) {
			return true
		}
	}
	return false
}
