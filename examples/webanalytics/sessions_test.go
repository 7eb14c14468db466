package webanalytics

import (
	"testing"

	"github.com/gale-stream/gale/sdk"
)

func ev(ts int64, typ, page string, x, y int64, target string, value sdk.Value) *sdk.Tuple {
	src := sdk.NewSource("ingest", sdk.DefaultStream, []string{"visitor", "ts", "type", "page", "x", "y", "vw", "vh", "target", "value"})
	tgt := sdk.Null()
	if target != "" {
		tgt = sdk.String(target)
	}
	return &sdk.Tuple{Source: src, Values: []sdk.Value{sdk.String("v"), sdk.Int(ts), sdk.String(typ), sdk.String(page),
		sdk.Int(x), sdk.Int(y), sdk.Int(1000), sdk.Int(500), tgt, value}}
}

func TestSessionMetrics(t *testing.T) {
	events := []*sdk.Tuple{
		ev(1000, "pageview", "/", 0, 0, "", sdk.Null()),
		ev(1100, "move", "/", 0, 0, "", sdk.Null()),     // above the fold
		ev(1600, "move", "/", 300, 400, "", sdk.Null()), // 500 px away; still above the fold
		ev(9600, "move", "/", 300, 700, "", sdk.Null()), // after 8 s idle; second screen
		ev(9700, "click", "/", 300, 700, "#cta", sdk.Null()),
		ev(9800, "scroll", "/pricing", 0, 0, "", sdk.Double(0.75)),
	}
	m := Metrics("v", events, 5000, "#cta")
	want := SessionMetrics{
		Visitor: "v", Start: 1000, End: 9800, DurationMS: 8800, Events: 6, Pages: 2, Clicks: 1,
		Converted: true, ScrollDepth: 0.75, CursorPx: 800, IdleMS: 8000,
		// pageview->move: no cursor yet; 1100->1600 and 1600->9600 above
		// the fold; 9600->9700 and 9700->9800 on the second screen.
		DwellMS: [3]int64{8500, 200, 0},
	}
	if m != want {
		t.Fatalf("metrics\n got %+v\nwant %+v", m, want)
	}
	if m := Metrics("v", events, 5000, "#other"); m.Converted {
		t.Fatal("converted without a click on the call-to-action")
	}
}
