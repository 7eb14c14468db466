package window

import (
	"errors"
	"fmt"
	"time"
)

// Kind is the shape of a window.
type Kind uint8

// The kinds of window. See Spec for their parameters and the package
// documentation for their exact semantics.
const (
	// KindSession groups a key's events into sessions separated by more
	// than Gap of event time.
	KindSession Kind = iota + 1
	// KindTumblingTime cuts event time into aligned windows of Size.
	KindTumblingTime
	// KindSlidingTime has windows of Size starting every Slide.
	KindSlidingTime
	// KindTumblingCount fires every Count events of a key.
	KindTumblingCount
	// KindSlidingCount fires every Every events of a key with its last
	// Count events.
	KindSlidingCount
)

// String names the kind in messages.
func (k Kind) String() string {
	switch k {
	case KindSession:
		return "session"
	case KindTumblingTime:
		return "tumbling time"
	case KindSlidingTime:
		return "sliding time"
	case KindTumblingCount:
		return "tumbling count"
	case KindSlidingCount:
		return "sliding count"
	}
	return fmt.Sprintf("kind(%d)", k)
}

// timeBased reports whether the kind works on event time (watermarks,
// lateness, the late stream).
func (k Kind) timeBased() bool {
	return k == KindSession || k == KindTumblingTime || k == KindSlidingTime
}

// Spec is the shape of the windows: build it with Session, Tumbling,
// Sliding, TumblingCount or SlidingCount.
type Spec struct {
	Kind Kind
	// Gap: sessions. Two consecutive events of a key are in one session
	// when the later is at most Gap after the earlier.
	Gap time.Duration
	// Size and Slide: time windows. Tumbling windows have Slide == Size.
	Size, Slide time.Duration
	// Count and Every: count windows. Tumbling count windows have
	// Every == Count.
	Count, Every int
}

// Session returns the spec of event-time session windows with the given gap.
func Session(gap time.Duration) Spec { return Spec{Kind: KindSession, Gap: gap} }

// Tumbling returns the spec of event-time windows [k*size, (k+1)*size).
func Tumbling(size time.Duration) Spec {
	return Spec{Kind: KindTumblingTime, Size: size, Slide: size}
}

// Sliding returns the spec of event-time windows [k*slide, k*slide+size);
// size must be a multiple of slide.
func Sliding(size, slide time.Duration) Spec {
	return Spec{Kind: KindSlidingTime, Size: size, Slide: slide}
}

// TumblingCount returns the spec of windows of n consecutive events of a key.
func TumblingCount(n int) Spec { return Spec{Kind: KindTumblingCount, Count: n, Every: n} }

// SlidingCount returns the spec of windows fired every `every` events of a
// key, each holding the key's last n events (fewer at the start).
func SlidingCount(n, every int) Spec { return Spec{Kind: KindSlidingCount, Count: n, Every: every} }

// AckMode says when a windowed bolt acks its input tuples. See the package
// documentation, "Delivery guarantee".
type AckMode uint8

const (
	// AckOnFire holds every input (a Clone) until the last window that
	// contains it has fired, anchors the window's results to its inputs,
	// then acks them: at-least-once results. The default.
	AckOnFire AckMode = iota
	// AckOnReceipt acks every input as soon as it is buffered and emits
	// results unanchored: at-most-once results, no constraint on the
	// message timeout, and a failure loses the open windows of the task.
	// With NewAggregate, the mode in which windows retain no input.
	AckOnReceipt
)

// String names the mode in messages.
func (m AckMode) String() string {
	switch m {
	case AckOnFire:
		return "ack-on-fire"
	case AckOnReceipt:
		return "ack-on-receipt"
	}
	return fmt.Sprintf("ackmode(%d)", m)
}

// Check says what Prepare does when the message timeout is too short for
// AckOnFire to hold inputs until their windows fire.
type Check uint8

const (
	// CheckError fails Prepare (the default).
	CheckError Check = iota
	// CheckWarn logs a warning and reports it in the task's status.
	CheckWarn
	// CheckOff skips the check.
	CheckOff
)

// DefaultPunctuationStream is the stream on which a bolt receives
// punctuated watermarks (see the package documentation).
const DefaultPunctuationStream = "watermark"

// DefaultLateStream is the stream late events go to.
const DefaultLateStream = "late"

// Config configures a windowed bolt. The zero value is not valid: start
// from DefaultConfig and set Window, TimeField (time-based windows) and
// KeyField.
type Config struct {
	// Window is the shape of the windows. Required.
	Window Spec
	// KeyField names the input field that keys the windows (its value's
	// text, Value.String). Empty: every event of the task has key "".
	// Use fields grouping on the same field so that a key lives in one
	// task.
	KeyField string
	// TimeField names the input field holding the event time, integer
	// milliseconds (an int, or a double with an integral value). Required
	// for session and time windows; optional for count windows, where it
	// only sets Window.Start and End.
	TimeField string
	// OutOfOrderness is the bounded out-of-orderness of the watermark: the
	// watermark is the largest event time seen minus OutOfOrderness.
	// Whole milliseconds, >= 0. Default 0.
	OutOfOrderness time.Duration
	// AllowedLateness delays firing, so that events up to this far behind
	// the watermark still join their window. An event whose time is
	// before watermark - AllowedLateness is late. Whole ms, >= 0.
	AllowedLateness time.Duration
	// IdleTimeout, when > 0, lets tick tuples advance the watermark while
	// no event arrives: once the input has been quiet for IdleTimeout of
	// wall-clock time, the watermark moves as if event time advanced with
	// the wall clock since the last event. Needs the component's
	// topology.tick.tuple.freq.secs. 0 (default): the watermark moves only
	// with events and punctuations.
	IdleTimeout time.Duration
	// Ack is when inputs are acked. Default AckOnFire.
	Ack AckMode
	// TimeoutCheck is what Prepare does when topology.message.timeout.secs
	// does not exceed how long AckOnFire may hold an input. Default
	// CheckError.
	TimeoutCheck Check
	// OutputFields declares the default stream the window function emits
	// on with Output.Emit; nil declares none.
	OutputFields []string
	// Streams declares further output streams (id -> fields) for
	// Output.EmitTo.
	Streams map[string][]string
	// LateStream is the stream late events are emitted on, with their
	// input values unchanged; "" drops them (they are still counted and
	// acked). Default "late".
	LateStream string
	// LateFields are the fields of the late stream: the input's fields.
	// Required when LateStream is set and the window is time-based.
	LateFields []string
	// PunctuationStream is the input stream whose tuples carry a
	// punctuated watermark (one int field, ms) from their source task.
	// Default "watermark".
	PunctuationStream string
}

// DefaultConfig returns the defaults: no out-of-orderness, no lateness,
// no idle advance, AckOnFire with the timeout check an error, late events
// on stream "late", punctuations on stream "watermark".
func DefaultConfig() Config {
	return Config{
		Ack:               AckOnFire,
		TimeoutCheck:      CheckError,
		LateStream:        DefaultLateStream,
		PunctuationStream: DefaultPunctuationStream,
	}
}

// Errors of the package; test with errors.Is.
var (
	// ErrConfig wraps every configuration error.
	ErrConfig = errors.New("window config")
	// ErrTimeout means the message timeout is too short for AckOnFire.
	ErrTimeout = errors.New("message timeout too short for the window")
)

func configErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, args...))
}

// wholeMS checks that d is a whole, non-negative number of milliseconds.
func wholeMS(field string, d time.Duration, positive bool) error {
	switch {
	case d < 0:
		return configErr(field, "must be >= 0, got %v", d)
	case positive && d == 0:
		return configErr(field, "must be > 0")
	case d%time.Millisecond != 0:
		return configErr(field, "event time is in whole milliseconds, got %v", d)
	}
	return nil
}

// Validate reports the first invalid setting, naming its field.
func (c Config) Validate() error {
	w := c.Window
	switch w.Kind {
	case KindSession:
		if err := wholeMS("Window.Gap", w.Gap, false); err != nil {
			return err
		}
	case KindTumblingTime, KindSlidingTime:
		if err := wholeMS("Window.Size", w.Size, true); err != nil {
			return err
		}
		if err := wholeMS("Window.Slide", w.Slide, true); err != nil {
			return err
		}
		if w.Slide > w.Size || w.Size%w.Slide != 0 {
			return configErr("Window.Slide", "size %v must be a multiple of slide %v", w.Size, w.Slide)
		}
	case KindTumblingCount, KindSlidingCount:
		if w.Count < 1 {
			return configErr("Window.Count", "must be at least 1, got %d", w.Count)
		}
		if w.Every < 1 {
			return configErr("Window.Every", "must be at least 1, got %d", w.Every)
		}
	case 0:
		return configErr("Window", "not set; use window.Session, Tumbling, Sliding, TumblingCount or SlidingCount")
	default:
		return configErr("Window.Kind", "unknown kind %d", w.Kind)
	}
	if w.Kind.timeBased() && c.TimeField == "" {
		return configErr("TimeField", "required for %s windows: the input field with the event time in ms", w.Kind)
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"OutOfOrderness", c.OutOfOrderness}, {"AllowedLateness", c.AllowedLateness}, {"IdleTimeout", c.IdleTimeout}} {
		if err := wholeMS(f.name, f.d, false); err != nil {
			return err
		}
	}
	if c.Ack > AckOnReceipt {
		return configErr("Ack", "unknown mode %d", c.Ack)
	}
	if c.TimeoutCheck > CheckOff {
		return configErr("TimeoutCheck", "unknown check %d", c.TimeoutCheck)
	}
	if c.PunctuationStream == "" {
		return configErr("PunctuationStream", "must not be empty (default %q)", DefaultPunctuationStream)
	}
	if c.LateStream != "" && w.Kind.timeBased() && len(c.LateFields) == 0 {
		return configErr("LateFields", "late stream %q needs the input's field names (or set LateStream to \"\" to drop late events)", c.LateStream)
	}
	seen := map[string]bool{}
	if c.OutputFields != nil {
		seen["default"] = true
	}
	for id := range c.Streams {
		if id == "" || id == "default" {
			return configErr("Streams", "stream id %q: use OutputFields for the default stream", id)
		}
		seen[id] = true
	}
	if c.LateStream != "" && seen[c.LateStream] {
		return configErr("LateStream", "stream %q is also an output stream", c.LateStream)
	}
	return nil
}

// holdBound is the longest event-time span AckOnFire may hold the last
// event of a window before the watermark passes its deadline; 0 for count
// windows, whose hold depends on traffic.
func (c Config) holdBound() time.Duration {
	w := c.Window
	var span time.Duration
	switch w.Kind {
	case KindSession:
		span = w.Gap
	case KindTumblingTime, KindSlidingTime:
		span = w.Size
	default:
		return 0
	}
	span += c.OutOfOrderness + c.AllowedLateness
	return max(span, c.IdleTimeout)
}
