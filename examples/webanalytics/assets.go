package webanalytics

import (
	"embed"
	"errors"
	"io/fs"

	"github.com/gale-stream/gale/sdk/ingest"
)

// AssetsName is the asset set this package registers with the ingest
// spout: a topology serves the tracker and the demo page with
// ingest.assets: webanalytics.
const AssetsName = "webanalytics"

//go:embed tracker.js static
var embedded embed.FS

// Assets returns the files served with ingest.assets = webanalytics:
// tracker.js (this directory's tracker) and the files of static/ at the
// root, so GET / is static/index.html, the demo landing page.
func Assets() fs.FS {
	static, err := fs.Sub(embedded, "static")
	if err != nil {
		panic(err) // the embed pattern above guarantees the directory
	}
	return assetFS{static}
}

// assetFS is static/ with tracker.js added at its root.
type assetFS struct{ static fs.FS }

func (a assetFS) Open(name string) (fs.File, error) {
	if name == "tracker.js" {
		return embedded.Open("tracker.js")
	}
	f, err := a.static.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return f, err
}

func init() { ingest.MustRegisterAssets(AssetsName, Assets()) }
