package ingest

import (
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"sync"
)

var assetSets = struct {
	sync.RWMutex
	m map[string]fs.FS
}{m: map[string]fs.FS{}}

// RegisterAssets makes a set of static files available to spouts whose
// ingest.assets names it; they are served at GET /PATH (GET / serves
// index.html). Call it from an init function, like sdk.RegisterSpout. It
// returns an error for an empty or duplicate name or a nil file system.
func RegisterAssets(name string, fsys fs.FS) error {
	assetSets.Lock()
	defer assetSets.Unlock()
	switch _, dup := assetSets.m[name]; {
	case name == "":
		return fmt.Errorf("%w: empty name", ErrAssets)
	case fsys == nil:
		return fmt.Errorf("%w %q: nil file system", ErrAssets, name)
	case dup:
		return fmt.Errorf("%w %q: already registered", ErrAssets, name)
	}
	assetSets.m[name] = fsys
	return nil
}

// MustRegisterAssets is RegisterAssets for init functions.
func MustRegisterAssets(name string, fsys fs.FS) {
	if err := RegisterAssets(name, fsys); err != nil {
		panic(err)
	}
}

func lookupAssets(name string) (fs.FS, error) {
	assetSets.RLock()
	defer assetSets.RUnlock()
	if f, ok := assetSets.m[name]; ok {
		return f, nil
	}
	names := make([]string, 0, len(assetSets.m))
	for n := range assetSets.m {
		names = append(names, n)
	}
	slices.Sort(names)
	known := "none is registered (is the package that registers it built into this binary?)"
	if len(names) > 0 {
		known = "registered: " + strings.Join(names, ", ")
	}
	return nil, fmt.Errorf("config %s: %w %q: not registered; %s", KeyAssets, ErrAssets, name, known)
}

// serveAsset answers GET and HEAD of a static file. Directories are not
// listed; "/" means index.html.
func serveAsset(w http.ResponseWriter, r *http.Request, fsys fs.FS) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	if name == "" {
		name = "index.html"
	}
	if !fs.ValidPath(name) {
		http.NotFound(w, r)
		return
	}
	f, err := fsys.Open(name)
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.IsDir() {
		http.NotFound(w, r)
		return
	}
	rs, ok := f.(io.ReadSeeker)
	if !ok {
		b, err := io.ReadAll(f)
		if err != nil {
			http.Error(w, "reading "+name+" failed", http.StatusInternalServerError)
			return
		}
		rs = strings.NewReader(string(b))
	}
	// Embedded files have no modification time: revalidate cheaply.
	w.Header().Set("Cache-Control", "public, max-age=60")
	http.ServeContent(w, r, name, fi.ModTime(), rs)
}
