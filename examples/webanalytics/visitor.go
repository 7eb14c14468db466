package webanalytics

import (
	"math"
	"strconv"
	"time"

	"github.com/gale-stream/gale/sdk/ingest"
)

// element is a clickable region of the demo landing page (static/index.html)
// in document pixels, for a given viewport width, with the selector the
// tracker reports for a click on it.
type element struct {
	sel    string
	x, y   float64 // centre
	w, h   float64
	clickP float64 // chance of a click when the cursor reaches it
	cta    bool
}

// CTASelector is the selector the tracker reports for the call to action
// of the demo page (the button with id "cta").
const CTASelector = "#cta"

// layout returns the demo page's elements and document height for a
// viewport width, measured from static/index.html in Chromium (rounded).
func layout(vw int) ([]element, int) {
	w := float64(vw)
	dh := 2050
	featuresY := 760.0
	if vw < 1100 {
		dh, featuresY = 2700, 900
	}
	els := []element{
		{sel: CTASelector, x: w / 2, y: 470, w: 260, h: 62, clickP: 0.35, cta: true},
		{sel: "body > header.nav > nav > a:nth-of-type(1)", x: w - 250, y: 36, w: 80, h: 24, clickP: 0.15},
		{sel: "body > header.nav > nav > a:nth-of-type(2)", x: w - 160, y: 36, w: 70, h: 24, clickP: 0.15},
		{sel: "body > header.nav > nav > a:nth-of-type(3)", x: w - 80, y: 36, w: 50, h: 24, clickP: 0.1},
		{sel: "#features > div.feature > p", x: w/2 - w/4, y: featuresY, w: 260, h: 120, clickP: 0.03},
		{sel: "#features > div.feature > p", x: w/2 + w/4, y: featuresY, w: 260, h: 120, clickP: 0.03},
		{sel: "#story > p:nth-of-type(2)", x: w / 2, y: float64(dh) - 900, w: 700, h: 90, clickP: 0.02},
		{sel: "#pricing > div.plan > button.plan-select", x: w/2 - 160, y: float64(dh) - 330, w: 110, h: 40, clickP: 0.25},
		{sel: "#pricing > div.plan > button.plan-select", x: w/2 + 160, y: float64(dh) - 330, w: 120, h: 40, clickP: 0.2},
	}
	return els, dh
}

// viewports are common desktop sizes (cursor tracking needs a mouse).
var viewports = [][2]int{{1920, 1080}, {1536, 864}, {1440, 900}, {1366, 768}, {1280, 720}, {1024, 768}}

// visitor is one simulated person in one slot.
type visitor struct {
	id       string
	away     bool // the slot is empty until nextAt
	hidden   bool // the tab is hidden until nextAt
	nextAt   time.Time
	leaveAt  time.Time
	vw, vh   int
	dh       int
	els      []element
	x, y     float64 // cursor, document coordinates
	tx, ty   float64 // where the cursor is heading
	heading  bool
	target   *element // the element at (tx, ty), if any
	click    *element // a click due at the next step
	scrollY  float64
	maxDepth float64

	buf     []byte // events of the batch being built, JSON
	n       int
	firstAt time.Time
}

// step makes the visitor do one thing and returns the number of events it
// produced (0 or 1).
func (g *generator) step(v *visitor, now time.Time) int {
	r := g.rng
	switch {
	case v.away:
		g.arrive(v, now)
		return 1
	case !now.Before(v.leaveAt):
		// Leaving: the tracker reports the page hidden, then nothing.
		g.emit(v, now, ingest.Event{Type: ingest.TypeVisibility, Visible: false, Has: ingest.HasVisible})
		v.away = true
		v.firstAt = time.Time{} // send at the next flush
		v.nextAt = now.Add(g.expDuration(g.cfg.Away))
		return 1
	case v.hidden:
		v.hidden = false
		g.emit(v, now, ingest.Event{Type: ingest.TypeVisibility, Visible: true, Has: ingest.HasVisible})
		return 1
	case v.click != nil:
		el := v.click
		v.click = nil
		g.clicks++
		if el.cta {
			g.ctaClicks++
		}
		g.emit(v, now, g.pointer(v, ingest.TypeClick, el.sel))
		v.nextAt = now.Add(g.pause(300*time.Millisecond, 2*time.Second))
		return 1
	}
	switch p := r.Float64(); {
	case p < 0.004: // switches tabs for a while
		v.hidden = true
		v.nextAt = now.Add(g.pause(2*time.Second, 10*time.Second))
		g.emit(v, now, ingest.Event{Type: ingest.TypeVisibility, Visible: false, Has: ingest.HasVisible})
		return 1
	case p < 0.04: // scrolls, mostly down
		delta := 150 + r.Float64()*450
		if r.Float64() < 0.2 {
			delta = -delta
		}
		old := v.scrollY
		v.scrollY = math.Max(0, math.Min(float64(v.dh-v.vh), v.scrollY+delta))
		v.y += v.scrollY - old // the cursor stays on screen, the page moves
		v.ty += v.scrollY - old
		v.heading = false
		depth := math.Round((v.scrollY+float64(v.vh))/float64(v.dh)*100) / 100
		if depth <= v.maxDepth {
			return 0
		}
		v.maxDepth = math.Min(1, depth)
		g.emit(v, now, ingest.Event{Type: ingest.TypeScroll, Depth: v.maxDepth, Has: ingest.HasDepth})
		return 1
	}
	if !v.heading {
		g.pickTarget(v)
	}
	// Move a share of the way, with a little tremor across the path.
	dx, dy := v.tx-v.x, v.ty-v.y
	dist := math.Hypot(dx, dy)
	if dist < 5 {
		v.heading = false
		if v.target != nil && r.Float64() < v.target.clickP {
			v.click = v.target
			v.nextAt = now.Add(g.pause(80*time.Millisecond, 400*time.Millisecond))
		} else {
			v.nextAt = now.Add(g.pause(400*time.Millisecond, 3*time.Second)) // dwell, reading
		}
		return 0
	}
	f := 0.18 + r.Float64()*0.2
	noise := r.NormFloat64() * (1 + dist*0.015)
	v.x += dx*f - dy/dist*noise
	v.y += dy*f + dx/dist*noise
	v.x = math.Max(0, math.Min(float64(v.vw-1), v.x))
	v.y = math.Max(v.scrollY, math.Min(v.scrollY+float64(v.vh-1), v.y))
	g.emit(v, now, g.pointer(v, ingest.TypeMove, ""))
	return 1
}

// arrive fills the slot with a new visitor, or a returning one.
func (g *generator) arrive(v *visitor, now time.Time) {
	r := g.rng
	if v.id == "" || r.Float64() >= 1.0/3 {
		v.id = "demo-" + strconv.FormatUint(r.Uint64()>>16, 36)
	}
	vp := viewports[r.IntN(len(viewports))]
	v.vw, v.vh = vp[0], vp[1]
	v.els, v.dh = layout(v.vw)
	v.away, v.hidden, v.heading, v.click, v.target = false, false, false, nil, nil
	v.x, v.y = r.Float64()*float64(v.vw), r.Float64()*float64(v.vh)
	v.scrollY, v.maxDepth = 0, 0
	v.leaveAt = now.Add(g.expDuration(g.cfg.Visit))
	v.nextAt = now
	g.sessions++
	g.emit(v, now, ingest.Event{Type: ingest.TypePageview, VW: int32(v.vw), VH: int32(v.vh), DW: int32(v.vw), DH: int32(v.dh),
		Has: ingest.HasVW | ingest.HasVH | ingest.HasDW | ingest.HasDH})
}

// pickTarget chooses where the cursor goes: the call to action when it is
// on screen (often), another element on screen, or a point being read.
func (g *generator) pickTarget(v *visitor) {
	r := g.rng
	top, bottom := v.scrollY, v.scrollY+float64(v.vh)
	var visible []*element
	var cta *element
	for i := range v.els {
		if e := &v.els[i]; e.y > top && e.y < bottom {
			visible = append(visible, e)
			if e.cta {
				cta = e
			}
		}
	}
	v.target = nil
	switch p := r.Float64(); {
	case cta != nil && p < 0.4:
		v.target = cta
	case len(visible) > 0 && p < 0.65:
		v.target = visible[r.IntN(len(visible))]
	}
	if e := v.target; e != nil {
		v.tx = e.x + (r.Float64()-0.5)*e.w*0.8
		v.ty = e.y + (r.Float64()-0.5)*e.h*0.8
	} else {
		// Reading: left-leaning x, a point on screen.
		v.tx = float64(v.vw) * (0.15 + 0.6*r.Float64()*r.Float64())
		v.ty = top + float64(v.vh)*(0.1+0.8*r.Float64())
	}
	v.heading = true
}

func (g *generator) pointer(v *visitor, typ, target string) ingest.Event {
	e := ingest.Event{Type: typ, X: int32(math.Round(v.x)), Y: int32(math.Round(v.y)), VW: int32(v.vw), VH: int32(v.vh),
		DW: int32(v.vw), DH: int32(v.dh), Has: ingest.HasX | ingest.HasY | ingest.HasVW | ingest.HasVH | ingest.HasDW | ingest.HasDH}
	if target != "" {
		e.Target, e.Has = target, e.Has|ingest.HasTarget
	}
	return e
}

// emit adds an event of v to its batch.
func (g *generator) emit(v *visitor, now time.Time, e ingest.Event) {
	e.Visitor, e.TS, e.Page = v.id, now.UnixMilli(), "/"
	if v.n == 0 {
		v.buf = append(v.buf[:0], '[')
		v.firstAt = now
	} else {
		v.buf = append(v.buf, ',')
	}
	v.buf = e.AppendJSON(v.buf)
	v.n++
	g.generated++
}

// naturalPace is about the events per second of a visitor at a natural
// pace: cursor movements at ~12 moves a second (the tracker sends at most
// one per 100 ms) between pauses to read and dwell.
const naturalPace = 6.0

// pause draws a pause of a visitor (dwelling, a tab switch) from
// [lo, hi), shortened when the rate asks each visitor for more than
// naturalPace events per second: time runs faster for everyone, so that
// the visitors due can carry the rate.
func (g *generator) pause(lo, hi time.Duration) time.Duration {
	d := lo + time.Duration(g.rng.Int64N(int64(hi-lo)))
	if perVisitor := g.cfg.Rate / float64(g.cfg.Visitors); perVisitor > naturalPace {
		d = time.Duration(float64(d) * naturalPace / perVisitor)
	}
	return d
}

// expDuration draws from an exponential distribution of the given mean,
// bounded to [mean/10, 5 x mean].
func (g *generator) expDuration(mean time.Duration) time.Duration {
	d := time.Duration(g.rng.ExpFloat64() * float64(mean))
	return max(mean/10, min(5*mean, d))
}
