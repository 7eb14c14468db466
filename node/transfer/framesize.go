package transfer

import (
	"errors"
	"fmt"

	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
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

// sendSplit sends the tuples of b to dest in frames of about
// splitFrameBytes, or one tuple each where a tuple alone is larger, and
// skips the tuples larger than MaxTupleBytes (returning a TooLargeError
// that names them, after refunding their credit, taken on generation gen).
// Ranges are halved by the tuples' estimated sizes (tupleBytes), so a
// batch of large tuples is never encoded whole; only the frames that go
// out are. If a send fails, the credit of the tuples not yet sent is
// refunded and the error returned.
func (s *Sender) sendSplit(dest int32, b *router.Batch, gen uint64) error {
	ts := b.Tuples
	prefix := make([]int, len(ts)+1)     // estimated bytes of ts[:i]
	valueBytes := make([]int, len(ts)+1) // bytes of the values of ts[:i], as credit counts them
	for i := range ts {
		prefix[i+1] = prefix[i] + tupleBytes(&ts[i])
		valueBytes[i+1] = valueBytes[i] + sdk.DataSize(ts[i].Values)
	}
	e := getEncoder()
	defer putEncoder(e)
	var tooLarge *TooLargeError
	var sendErr error
	var split func(lo, hi int)
	split = func(lo, hi int) {
		if sendErr != nil {
			return
		}
		if hi-lo > 1 && prefix[hi]-prefix[lo] > splitFrameBytes {
			mid := lo + (hi-lo)/2
			split(lo, mid)
			split(mid, hi)
			return
		}
		part := router.Batch{Tuples: ts[lo:hi]}
		f := e.packedFrame(dest, &part)
		if n := len(e.body); hi-lo == 1 && n > MaxTupleBytes {
			if tooLarge == nil {
				tooLarge = &TooLargeError{}
			}
			tooLarge.Index = append(tooLarge.Index, lo)
			tooLarge.Bytes = append(tooLarge.Bytes, n)
			s.credits.refund(dest, 1, valueBytes[lo+1]-valueBytes[lo], gen)
			return
		}
		if err := s.send(f); err != nil {
			sendErr = err
			s.credits.refund(dest, len(ts)-lo, valueBytes[len(ts)]-valueBytes[lo], gen) // this frame and the rest
		}
	}
	split(0, len(ts))
	if sendErr != nil {
		return sendErr
	}
	if tooLarge != nil {
		return tooLarge
	}
	return nil
}

// tupleBytes estimates what t takes in a packed frame, a little more: its
// values (sdk.WireSize), 16 bytes per anchor and 16 for its columns.
func tupleBytes(t *sdk.Tuple) int {
	return 16 + 16*len(t.Anchors) + sdk.WireSize(t.Values)
}
