package ingest

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestDecodeValid(t *testing.T) {
	body := `[
	 {"visitor":"v1","ts":1700000000000,"type":"pageview","page":"/","vw":1280,"vh":800,"dw":1280,"dh":2400},
	 {"visitor":"v1","ts":1700000000050,"type":"move","page":"/","x":10,"y":-2,"vw":1280,"vh":800,"extra":{"a":[1,2,{"b":null}]}},
	 {"visitor":"v1","ts":1700000000100,"type":"click","page":"/","x":640,"y":400,"vw":1280,"vh":800,"target":"button#cta"},
	 {"visitor":"v1","ts":1700000000200,"type":"scroll","page":"/","depth":0.75},
	 {"visitor":"v\u00e9\ud83d\ude00","ts":1700000000300,"type":"visibility","page":"/a\"b","visible":false,"target":null}
	]`
	evs, err := Decode(nil, []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 5 {
		t.Fatalf("got %d events, want 5", len(evs))
	}
	want := []Event{
		{Visitor: "v1", TS: 1700000000000, Type: TypePageview, Page: "/", VW: 1280, VH: 800, DW: 1280, DH: 2400, Has: HasVW | HasVH | HasDW | HasDH},
		{Visitor: "v1", TS: 1700000000050, Type: TypeMove, Page: "/", X: 10, Y: -2, VW: 1280, VH: 800, Has: HasX | HasY | HasVW | HasVH},
		{Visitor: "v1", TS: 1700000000100, Type: TypeClick, Page: "/", X: 640, Y: 400, VW: 1280, VH: 800, Target: "button#cta", Has: HasX | HasY | HasVW | HasVH | HasTarget},
		{Visitor: "v1", TS: 1700000000200, Type: TypeScroll, Page: "/", Depth: 0.75, Has: HasDepth},
		{Visitor: "vé😀", TS: 1700000000300, Type: TypeVisibility, Page: `/a"b`, Visible: false, Has: HasVisible},
	}
	for i := range want {
		if evs[i] != want[i] {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, evs[i], want[i])
		}
	}
	// The same events wrapped in an object, with other members around.
	evs2, err := Decode(nil, []byte(`{"v":1,"events":`+body+`,"meta":[{}]}`))
	if err != nil || len(evs2) != 5 || evs2[2] != want[2] {
		t.Fatalf("wrapped body: %v, %d events", err, len(evs2))
	}
	// "sent", when the sender sent the batch by its clock, is returned.
	for in, want := range map[string]int64{
		`{"sent":1700000000999,"events":` + body + `}`: 1700000000999,
		`{"events":` + body + `,"sent":null}`:          0,
		body:                                           0,
	} {
		if _, sent, err := DecodeSent(nil, []byte(in)); err != nil || sent != want {
			t.Errorf("DecodeSent(%.40s...) = sent %d, %v; want %d", in, sent, err, want)
		}
	}
	// An empty batch is fine.
	if evs, err := Decode(nil, []byte(" [ ] ")); err != nil || len(evs) != 0 {
		t.Fatalf("empty array: %v %v", evs, err)
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	evs := []Event{
		{Visitor: "a\x01\"\\\n\tb", TS: 1, Type: TypeClick, Page: "/p/ü", X: 1, Y: 2, VW: 3, VH: 4, Target: "div.x > a", Has: HasX | HasY | HasVW | HasVH | HasTarget},
		{Visitor: "w", TS: math.MaxInt64, Type: TypeScroll, Page: "/", Depth: 1, Has: HasDepth},
		{Visitor: "w", TS: 0, Type: TypeVisibility, Page: "/", Visible: true, Has: HasVisible},
	}
	var buf []byte
	buf = append(buf, '[')
	for i := range evs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = evs[i].AppendJSON(buf)
	}
	buf = append(buf, ']')
	if !json.Valid(buf) {
		t.Fatalf("AppendJSON made invalid JSON: %s", buf)
	}
	got, err := Decode(nil, buf)
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		if got[i] != evs[i] {
			t.Errorf("event %d: got %+v want %+v", i, got[i], evs[i])
		}
	}
}

func TestDecodeErrors(t *testing.T) {
	ok := `{"visitor":"v","ts":1,"type":"scroll","page":"/","depth":0.5}`
	cases := []struct {
		name, body string
		index      int
		msg        string
	}{
		{"empty", "", -1, "empty body"},
		{"spaces", "  \n", -1, "empty body"},
		{"not-json", "hello", -1, "malformed JSON at byte 0"},
		{"scalar", "42", -1, "body is a number"},
		{"object-without-events", `{"evts":[]}`, -1, `no "events" member`},
		{"events-not-array", `{"events":{}}`, -1, `"events" must be an array`},
		{"events-twice", `{"events":[],"events":[]}`, -1, `"events" given twice`},
		{"sent-not-integer", `{"events":[],"sent":"now"}`, -1, `field "sent": want an integer, got a string`},
		{"sent-negative", `{"events":[],"sent":-1}`, -1, `field "sent": -1 is out of range`},
		{"trailing", `[]x`, -1, "want end of body"},
		{"truncated", `[` + ok + `,` + ok, -1, "unexpected end of body"},
		{"truncated-in-event", `[` + ok + `,{"visitor":"v`, 1, "unexpected end of body"},
		{"nul-after", "[]\x00", -1, "want end of body"},
		{"missing-comma", `[` + ok + ok + `]`, 1, "',' or ']' after an event"},
		{"event-not-object", `[` + ok + `,"x"]`, 1, "want an event object, got a string"},
		{"bad-syntax-in-event", `[` + ok + `,{"visitor":"v","ts":1,}]`, 1, "malformed JSON"},
		{"missing-visitor", `[{"ts":1,"type":"scroll","page":"/","depth":0.5}]`, 0, `missing field "visitor"`},
		{"empty-visitor", `[{"visitor":"","ts":1,"type":"scroll","page":"/","depth":0.5}]`, 0, `missing field "visitor" (or empty: want 1 to 128 characters)`},
		{"long-visitor", `[{"visitor":"` + strings.Repeat("é", 129) + `","ts":1,"type":"scroll","page":"/","depth":0.5}]`, 0, `"visitor": 129 characters, at most 128`},
		{"visitor-number", `[{"visitor":7,"ts":1,"type":"scroll","page":"/","depth":0.5}]`, 0, `field "visitor": want a string, got a number`},
		{"missing-ts", `[` + ok + `,{"visitor":"v","type":"scroll","page":"/","depth":0.5}]`, 1, `missing field "ts"`},
		{"ts-string", `[{"visitor":"v","ts":"1","type":"scroll","page":"/","depth":0.5}]`, 0, `field "ts": want an integer, got a string`},
		{"ts-fraction", `[{"visitor":"v","ts":1.5,"type":"scroll","page":"/","depth":0.5}]`, 0, `field "ts": want an integer, got 1.5`},
		{"ts-negative", `[{"visitor":"v","ts":-1,"type":"scroll","page":"/","depth":0.5}]`, 0, `field "ts": -1 is out of range`},
		{"ts-huge", `[{"visitor":"v","ts":99999999999999999999,"type":"scroll","page":"/","depth":0.5}]`, 0, `out of range`},
		{"missing-type", `[{"visitor":"v","ts":1,"page":"/","depth":0.5}]`, 0, `missing field "type"`},
		{"unknown-type", `[{"visitor":"v","ts":1,"type":"hover","page":"/"}]`, 0, `unknown event type "hover"`},
		{"missing-page", `[{"visitor":"v","ts":1,"type":"scroll","depth":0.5}]`, 0, `missing field "page"`},
		{"page-not-a-path", `[{"visitor":"v","ts":1,"type":"scroll","page":"javascript:alert(1)","depth":0.5}]`, 0, `field "page": want a path starting with one "/", without backslashes or control characters (location.pathname), got "javascript:alert(1)"`},
		{"page-another-host", `[{"visitor":"v","ts":1,"type":"scroll","page":"//evil.example/x","depth":0.5}]`, 0, `field "page": want a path`},
		{"page-backslash", `[{"visitor":"v","ts":1,"type":"scroll","page":"/\\evil.example/x","depth":0.5}]`, 0, `field "page": want a path`},
		{"page-tab", `[{"visitor":"v","ts":1,"type":"scroll","page":"/\t/evil.example/","depth":0.5}]`, 0, `field "page": want a path`},
		{"long-page", `[{"visitor":"v","ts":1,"type":"scroll","page":"/` + strings.Repeat("p", 512) + `","depth":0.5}]`, 0, `"page": 513 characters`},
		{"move-without-x", `[{"visitor":"v","ts":1,"type":"move","page":"/","y":1,"vw":1,"vh":1}]`, 0, `missing field "x"`},
		{"move-without-vh", `[{"visitor":"v","ts":1,"type":"move","page":"/","x":1,"y":1,"vw":1}]`, 0, `missing field "vh"`},
		{"x-float", `[{"visitor":"v","ts":1,"type":"move","page":"/","x":1.5,"y":1,"vw":1,"vh":1}]`, 0, `field "x": want an integer, got 1.5`},
		{"x-too-big", `[{"visitor":"v","ts":1,"type":"move","page":"/","x":3000000000,"y":1,"vw":1,"vh":1}]`, 0, `field "x": 3000000000 is out of range`},
		{"click-without-target", `[{"visitor":"v","ts":1,"type":"click","page":"/","x":1,"y":1,"vw":1,"vh":1}]`, 0, `missing field "target"`},
		{"target-number", `[{"visitor":"v","ts":1,"type":"click","page":"/","x":1,"y":1,"vw":1,"vh":1,"target":1}]`, 0, `field "target": want a string`},
		{"pageview-without-viewport", `[{"visitor":"v","ts":1,"type":"pageview","page":"/"}]`, 0, `missing field "vw"`},
		{"scroll-without-depth", `[{"visitor":"v","ts":1,"type":"scroll","page":"/"}]`, 0, `missing field "depth"`},
		{"depth-out-of-range", `[{"visitor":"v","ts":1,"type":"scroll","page":"/","depth":1.5}]`, 0, `"depth": must be from 0 to 1`},
		{"depth-string", `[{"visitor":"v","ts":1,"type":"scroll","page":"/","depth":"0.5"}]`, 0, `"depth": want a number, got a string`},
		{"visibility-without-visible", `[{"visitor":"v","ts":1,"type":"visibility","page":"/"}]`, 0, `missing field "visible"`},
		{"visible-number", `[{"visitor":"v","ts":1,"type":"visibility","page":"/","visible":1}]`, 0, `"visible": want true or false, got a number`},
		{"bad-utf8", "[{\"visitor\":\"\xff\",\"ts\":1,\"type\":\"scroll\",\"page\":\"/\",\"depth\":0.5}]", 0, "invalid UTF-8"},
		{"control-char", "[{\"visitor\":\"a\x01\",\"ts\":1,\"type\":\"scroll\",\"page\":\"/\",\"depth\":0.5}]", 0, "control characters"},
		{"bad-escape", `[{"visitor":"a\q","ts":1,"type":"scroll","page":"/","depth":0.5}]`, 0, `unknown escape \q`},
		{"deep-unknown", `[{"x2":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}]`, 0, "nested deeper"},
		{"leading-zero", `[{"visitor":"v","ts":01,"type":"scroll","page":"/","depth":0.5}]`, 0, "malformed JSON"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evs, err := Decode(make([]Event, 0, 4), []byte(tc.body))
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("want a *DecodeError, got %v (%d events)", err, len(evs))
			}
			if de.Index != tc.index || !strings.Contains(de.Msg, tc.msg) {
				t.Fatalf("got index %d %q, want index %d and %q", de.Index, de.Msg, tc.index, tc.msg)
			}
			if len(evs) != 0 {
				t.Fatalf("a rejected body returned %d events", len(evs))
			}
			if json.Valid([]byte(tc.body)) && strings.Contains(tc.msg, "malformed") {
				t.Fatalf("case claims malformed JSON but encoding/json accepts it")
			}
		})
	}
}

// FuzzDecode checks the decoder against encoding/json: whatever it accepts
// is valid JSON, with the same values.
func FuzzDecode(f *testing.F) {
	f.Add(`[{"visitor":"v1","ts":1,"type":"move","page":"/","x":1,"y":2,"vw":3,"vh":4}]`)
	f.Add(`{"events":[{"visitor":"v\u00e9","ts":1,"type":"click","page":"/","x":1,"y":2,"vw":3,"vh":4,"target":"a\ud83d\ude00"}]}`)
	f.Add(`[{"visitor":"v","ts":1,"type":"scroll","page":"/","depth":1e-1,"u":[true,false,null,"s",{"k":-0.5E+3}]}]`)
	f.Add(`[{"visitor":"v","ts":1,"type":"visibility","page":"/","visible":true,"target":"\ud800x"}]`)
	f.Fuzz(func(t *testing.T, body string) {
		evs, err := Decode(nil, []byte(body))
		if err != nil {
			return
		}
		if !json.Valid([]byte(body)) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		type wire struct {
			Visitor, Type, Page string
			Target              *string
			TS                  int64
			X, Y, VW, VH        *int32
			Depth               *float64
			Visible             *bool
		}
		var ref []wire
		if err := json.Unmarshal([]byte(body), &ref); err != nil {
			var wrapped struct{ Events []wire }
			if err2 := json.Unmarshal([]byte(body), &wrapped); err2 != nil {
				// encoding/json matches member names case-insensitively;
				// other keys such as "Events" or "X" may then collide.
				t.Skip("encoding/json disagrees on shape:", err, err2)
			}
			ref = wrapped.Events
		}
		if len(ref) != len(evs) {
			t.Skipf("encoding/json read %d events, Decode %d (case-insensitive keys)", len(ref), len(evs))
		}
		for i, e := range evs {
			r := ref[i]
			if r.Visitor != e.Visitor || r.Type != e.Type || r.Page != e.Page || r.TS != e.TS {
				t.Fatalf("event %d: Decode %+v, encoding/json %+v", i, e, r)
			}
			if r.X != nil && *r.X != e.X || r.Depth != nil && *r.Depth != e.Depth || r.Target != nil && *r.Target != e.Target {
				t.Fatalf("event %d: Decode %+v, encoding/json %+v", i, e, r)
			}
		}
	})
}
