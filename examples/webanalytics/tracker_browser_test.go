package webanalytics

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/ingest"
	"github.com/gale-stream/gale/sdk/security/securitytest"
)

// browserDeps finds Debian's chromium and the playwright-core driver of
// browsertest/ (installed by `make -C examples/webanalytics/browsertest
// deps`). Without them the test skips, unless GALE_REQUIRE_DEPS=1.
func browserDeps(t *testing.T) (chromium, node string) {
	t.Helper()
	missing := func(what string) {
		msg := what + " is missing: run `make -C examples/webanalytics/browsertest deps`"
		if os.Getenv("GALE_REQUIRE_DEPS") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	chromium = os.Getenv("GALE_CHROMIUM")
	if chromium == "" {
		for _, name := range []string{"chromium", "chromium-browser"} {
			if p, err := exec.LookPath(name); err == nil {
				chromium = p
				break
			}
		}
	}
	if chromium == "" {
		missing("chromium (Debian's chromium package)")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node")
	}
	if _, err := os.Stat(filepath.Join("browsertest", "node_modules", "playwright-core")); err != nil {
		missing("playwright-core (npm)")
	}
	return chromium, node
}

// TestTrackerInBrowser loads the demo page from the ingest spout in
// headless Chromium, moves the mouse, clicks the call to action and
// scrolls, and checks the tuples the spout emitted: over HTTP, and over
// HTTPS (ingest.tls_cert, ingest.tls_key), as a tracked page served over
// HTTPS must send to an HTTPS ingest. Chromium trusts the test's
// certificate by its public key (--ignore-certificate-errors-spki-list),
// and refuses the page without that.
func TestTrackerInBrowser(t *testing.T) {
	chromium, node := browserDeps(t)
	t.Run("http", func(t *testing.T) {
		testTrackerInBrowser(t, chromium, node, sdk.Config{}, "")
	})
	t.Run("https", func(t *testing.T) {
		ca := securitytest.NewCA(t, "web")
		files := ca.Issue(t, "ingest")
		conf := sdk.Config{ingest.KeyTLSCert: sdk.String(files.Cert), ingest.KeyTLSKey: sdk.String(files.Key), ingest.KeyAssets: sdk.String(AssetsName)}
		// Without trust in the certificate, the page does not load.
		base, stop := startIngest(t, conf.Clone())
		_, stderr, err := driveChromium(t, chromium, node, base+"/", "")
		if tuples := stop(); err == nil || !strings.Contains(stderr, "ERR_CERT_AUTHORITY_INVALID") || len(tuples) != 0 {
			t.Fatalf("an untrusted certificate: %v, %d events\n%s", err, len(tuples), stderr)
		}
		testTrackerInBrowser(t, chromium, node, conf, spkiHash(t, files.Cert))
	})
}

// spkiHash is the base64 SHA-256 of the public key of the PEM certificate
// in file, as Chromium's --ignore-certificate-errors-spki-list takes it.
func spkiHash(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatalf("no PEM in %s", file)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// driveChromium runs browsertest/drive.mjs on url (trusting the public key
// spki, if given) and returns its output.
func driveChromium(t *testing.T, chromium, node, url, spki string) (out []byte, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	args := []string{"drive.mjs", url, chromium}
	if spki != "" {
		args = append(args, spki)
	}
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Dir = "browsertest"
	var errBuf strings.Builder
	cmd.Stderr = &errBuf
	out, err = cmd.Output()
	return out, errBuf.String(), err
}

func testTrackerInBrowser(t *testing.T, chromium, node string, conf sdk.Config, spki string) {
	conf[ingest.KeyAssets] = sdk.String(AssetsName)
	base, stop := startIngest(t, conf)
	out, stderr, err := driveChromium(t, chromium, node, base+"/", spki)
	if err != nil {
		stop()
		t.Fatalf("driving chromium: %v\n%s", err, stderr)
	}
	var page struct {
		Visitor          string
		Pending, Dropped int
		CTA              struct{ X, Y, W, H float64 }
	}
	if err := json.Unmarshal(out, &page); err != nil {
		stop()
		t.Fatalf("driver output %q: %v", out, err)
	}
	// The page said its queue is empty; give the spout a moment to emit.
	time.Sleep(100 * time.Millisecond)
	tuples := stop()
	counts := map[string]int{}
	views := map[string]int{} // pageviews by path
	var ctaClick []sdk.Value
	routed := false // an event was on the new route after pushState
	for _, v := range tuples {
		if v[ingest.IdxVisitor].Str() != page.Visitor {
			t.Fatalf("event of another visitor: %v (page's visitor %s)", v, page.Visitor)
		}
		path := v[ingest.IdxPage].Str()
		switch {
		case path == "/app/pricing":
			routed = true
		case routed:
			t.Errorf("an event on %q after the route changed to /app/pricing", path)
		case path != "/":
			t.Errorf("page %q, want /", path)
		}
		typ := v[ingest.IdxType].Str()
		if typ == ingest.TypePageview {
			views[path]++
		}
		if path != "/" {
			continue // the route change's own events are checked above
		}
		counts[typ]++
		if typ == ingest.TypeClick && v[ingest.IdxTarget].Str() == CTASelector {
			ctaClick = v
		}
	}
	t.Logf("events by type: %v (page: %+v)", counts, page)
	if views["/"] != 1 || views["/app/pricing"] != 1 {
		t.Errorf("pageviews: %v, want one on / and one on /app/pricing (history.pushState)", views)
	}
	// 45 mouse steps, throttled to one move per 100 ms, over ~1 s of moving.
	if counts[ingest.TypeMove] < 3 || counts[ingest.TypeMove] > 45 {
		t.Errorf("moves: %d, want some, throttled", counts[ingest.TypeMove])
	}
	if counts[ingest.TypeScroll] < 1 {
		t.Errorf("no scroll event")
	}
	if ctaClick == nil {
		t.Fatalf("no click on %s among %d events", CTASelector, len(tuples))
	}
	x, y := float64(ctaClick[ingest.IdxX].Int()), float64(ctaClick[ingest.IdxY].Int())
	if x < page.CTA.X || x > page.CTA.X+page.CTA.W || y < page.CTA.Y || y > page.CTA.Y+page.CTA.H {
		t.Errorf("click at %v,%v is not on the button %+v", x, y, page.CTA)
	}
	if ctaClick[ingest.IdxVW].Int() != 1280 || ctaClick[ingest.IdxVH].Int() != 800 {
		t.Errorf("viewport %v x %v, want 1280 x 800", ctaClick[ingest.IdxVW], ctaClick[ingest.IdxVH])
	}
	if page.Dropped != 0 {
		t.Errorf("the tracker dropped %d events", page.Dropped)
	}
}
