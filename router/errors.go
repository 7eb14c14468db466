package router

import "errors"

// Sentinel errors of package router. Errors returned by the package wrap
// them, so test for them with errors.Is.
var (
	// ErrClosed is returned by Queue.Push and Queue.TryPush once the
	// queue is closed: the consumer is gone or going, and the value was
	// not queued.
	ErrClosed = errors.New("router: queue closed")

	// ErrFull is returned by Queue.TryPush when the queue is at capacity.
	// It is backpressure made visible: the caller decides whether to
	// wait (Push), shed, or slow its source; nothing is dropped silently.
	ErrFull = errors.New("router: queue full")

	// ErrInvalidGrouping is wrapped by the errors of New and
	// ParseGrouping: an unknown or unspecified grouping type, or a Config
	// that does not fit the grouping. The wrapping error says which field
	// is wrong.
	ErrInvalidGrouping = errors.New("router: invalid grouping")
)
