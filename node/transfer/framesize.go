package transfer

import (
	"errors"
	"fmt"

	"github.com/gale-stream/gale/router"
)

// Frame sizes. gRPC refuses a message larger than the receiver's limit (4
// MiB unless set) by ending the whole stream, and the sender learns it only
// from the broken stream: before these bounds, a batch of 512 tuples of 20
// KB each never arrived, and its tuples were replayed, or dropped without
// acking, for ever. So a node accepts messages up to MaxMessageBytes, and a
// sender splits a batch whose frame would be larger than splitFrameBytes
// into frames of about that size; only a tuple that alone is larger than
// MaxTupleBytes cannot be sent.
const (
	// MaxMessageBytes is the largest gRPC message a node receives, on
	// every service of its port (ServerOptions, DialOptions).
	MaxMessageBytes = 16 << 20
	// MaxTupleBytes is the largest encoded tuple (its values, about 10
	// bytes each more than their data, and its anchors) a node sends to
	// another; the rest of MaxMessageBytes is left for the frame's
	// envelope.
	MaxTupleBytes = MaxMessageBytes - 64<<10
	// splitFrameBytes is the size above which a batch goes out in
	// several frames: large enough that a batch of small tuples is one
	// frame (512 tuples of a few words are 5-20 KB), small enough that
	// one frame does not hold the stream for long.
	splitFrameBytes = 1 << 20
	// maxAcksPerFrame bounds an acks frame (about 20 bytes an operation):
	// an acker handing its trees over sends them all at once.
	maxAcksPerFrame = 1 << 16
)

// ErrTupleTooLarge means a tuple was not sent because its encoding is
// larger than MaxTupleBytes.
var ErrTupleTooLarge = errors.New("tuple too large to send")

// TooLargeError lists the tuples of a batch that were not sent because
// each alone is larger than MaxTupleBytes; the batch's other tuples were
// sent. It matches ErrTupleTooLarge with errors.Is.
type TooLargeError struct {
	// Index are the positions of those tuples in the batch.
	Index []int
	// Bytes are their encoded sizes, in the same order.
	Bytes []int
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%v: %d tuple(s) not sent, the first (#%d in its batch) %d bytes encoded, over the limit of %d (transfer.MaxTupleBytes)",
		ErrTupleTooLarge, len(e.Index), e.Index[0], e.Bytes[0], MaxTupleBytes)
}

// Is reports whether target is ErrTupleTooLarge.
func (e *TooLargeError) Is(target error) bool { return target == ErrTupleTooLarge }

// sendSplit sends the tuples of b to dest in frames of at most
// splitFrameBytes, or one tuple each where a tuple alone is larger, and
// skips the tuples larger than MaxTupleBytes (returning a TooLargeError
// that names them, after refunding their credit). e holds the encoding of
// the whole batch on entry. The split is by halves: exact, without a
// second size function to keep in step with appendPacked, and only ever
// taken by batches of large tuples.
func (s *Sender) sendSplit(e *encoder, dest int32, b *router.Batch) error {
	var tooLarge *TooLargeError
	var sendErr error
	var split func(lo, hi int)
	split = func(lo, hi int) {
		if sendErr != nil {
			return
		}
		part := router.Batch{Tuples: b.Tuples[lo:hi]}
		f := e.packedFrame(dest, &part)
		n := len(e.body)
		switch {
		case hi-lo == 1 && n > MaxTupleBytes:
			if tooLarge == nil {
				tooLarge = &TooLargeError{}
			}
			tooLarge.Index = append(tooLarge.Index, lo)
			tooLarge.Bytes = append(tooLarge.Bytes, n)
			s.credits.refund(dest, 1)
		case hi-lo == 1 || n <= splitFrameBytes:
			sendErr = s.send(f)
		default:
			mid := lo + (hi-lo)/2
			split(lo, mid)
			split(mid, hi)
		}
	}
	split(0, len(b.Tuples))
	if sendErr != nil {
		return sendErr
	}
	if tooLarge != nil {
		return tooLarge
	}
	return nil
}
