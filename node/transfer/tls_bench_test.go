package transfer

import (
	"context"
	"testing"
	"time"

	"github.com/gale-stream/gale/sdk/security"
	"github.com/gale-stream/gale/sdk/security/securitytest"
)

// BenchmarkRawStreamTLS measures what mutual TLS costs a stream of frames
// like a node's (512 tuples, the frame's bytes encoded once): the raw
// stream over plaintext and over TLS, alternated in the same run, as
// tuples/s each and their ratio.
//
//	go test -run '^$' -bench RawStreamTLS -benchtime 3x ./node/transfer
func BenchmarkRawStreamTLS(b *testing.B) {
	ca := securitytest.NewCA(b, "gale")
	sec, err := security.Load(ca.Issue(b, "node"), "TLS")
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var plain, tls float64
	runs := 0
	for b.Loop() {
		runs++
		p, err := measureRaw(ctx, 2*time.Second, 512, RawBytes, 0, nil)
		if err != nil {
			b.Fatal(err)
		}
		t, err := measureRaw(ctx, 2*time.Second, 512, RawBytes, 0, sec)
		if err != nil {
			b.Fatal(err)
		}
		plain, tls = plain+p.Rate, tls+t.Rate
	}
	b.ReportMetric(plain/float64(runs), "plain-tuples/s")
	b.ReportMetric(tls/float64(runs), "tls-tuples/s")
	b.ReportMetric(tls/plain, "tls/plain")
}
