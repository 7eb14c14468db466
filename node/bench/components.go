package bench

import (
	"context"
	"time"

	"github.com/gale-stream/gale/router"
	"github.com/gale-stream/gale/sdk"
)

// Class names of the benchmark's own components.
const (
	ClassSentences = "bench.Sentences"
	ClassSequence  = "bench.Sequence"
	ClassPass      = "bench.Pass"
	ClassNull      = "bench.Null"
)

func init() {
	sdk.MustRegisterSpout(ClassSentences, func() sdk.Spout { return &sourceSpout{sentences: true} })
	sdk.MustRegisterSpout(ClassSequence, func() sdk.Spout { return &sourceSpout{} })
	sdk.MustRegisterBolt(ClassPass, func() sdk.Bolt { return &passBolt{} })
	sdk.MustRegisterBolt(ClassNull, func() sdk.Bolt { return &nullBolt{} })
}

// corpus are the benchmark's sentences: six words each on average, like the
// word count the targets are stated for.
var corpus = []string{
	"the cow jumped over the moon",
	"an apple a day keeps the doctor away",
	"four score and seven years ago",
	"snow white and the seven dwarfs",
	"i am at two with nature",
	"the quick brown fox jumps high",
	"stream processing at scale is fun",
	"every tuple finds its way home",
}

// corpusWords is the number of words per sentence, averaged over corpus.
func corpusWords() float64 {
	n := 0
	for _, s := range corpus {
		w := 1
		for i := 0; i < len(s); i++ {
			if s[i] == ' ' {
				w++
			}
		}
		n += w
	}
	return float64(n) / float64(len(corpus))
}

// sourceSpout emits sentences or sequence numbers, reliably (message id =
// sequence number; failures are not replayed: a benchmark counts, it does
// not need every message), at config bench.rate tuples/s per task (0: as
// fast as it may), up to bench.count tuples per task (0: no end).
type sourceSpout struct {
	sentences bool
	out       *sdk.SpoutCollector
	vals      []sdk.Value
	seq       uint64
	count     uint64
	rate      float64
	start     int64
}

func (s *sourceSpout) DeclareOutputFields(d *sdk.OutputDeclarer) {
	if s.sentences {
		d.Declare("sentence")
	} else {
		d.Declare("n")
	}
}

func (s *sourceSpout) Open(_ context.Context, tc *sdk.TaskContext, out *sdk.SpoutCollector) error {
	s.out = out
	var err error
	if s.rate, err = tc.Config.Float("bench.rate", 0); err != nil {
		return err
	}
	n, err := tc.Config.Int("bench.count", 0)
	if err != nil {
		return err
	}
	s.count = uint64(n)
	for _, c := range corpus {
		s.vals = append(s.vals, sdk.String(c))
	}
	s.start = router.Nanotime()
	return nil
}

func (s *sourceSpout) NextTuple() {
	allowed := uint64(128)
	if s.rate > 0 {
		due := uint64(float64(router.Nanotime()-s.start) * s.rate / 1e9)
		if due <= s.seq {
			return
		}
		allowed = min(due-s.seq, allowed)
	}
	for i := uint64(0); i < allowed; i++ {
		if s.count > 0 && s.seq >= s.count {
			s.out.End()
			return
		}
		s.seq++
		if s.sentences {
			s.out.Emit(s.seq, s.vals[s.seq%uint64(len(s.vals))])
		} else {
			s.out.Emit(s.seq, sdk.Int(int64(s.seq)))
		}
	}
}

func (s *sourceSpout) Ack(uint64)   {}
func (s *sourceSpout) Fail(uint64)  {}
func (s *sourceSpout) Close() error { return nil }

// passBolt re-emits its input anchored and acks it.
type passBolt struct{ out *sdk.BoltCollector }

func (b *passBolt) DeclareOutputFields(d *sdk.OutputDeclarer) { d.Declare("n") }
func (b *passBolt) Prepare(_ context.Context, _ *sdk.TaskContext, out *sdk.BoltCollector) error {
	b.out = out
	return nil
}
func (b *passBolt) Execute(t *sdk.Tuple) {
	b.out.Emit(t, t.Values[0])
	b.out.Ack(t)
}
func (b *passBolt) Cleanup() error { return nil }

// nullBolt acks and drops.
type nullBolt struct{ out *sdk.BoltCollector }

func (b *nullBolt) DeclareOutputFields(*sdk.OutputDeclarer) {}
func (b *nullBolt) Prepare(_ context.Context, _ *sdk.TaskContext, out *sdk.BoltCollector) error {
	b.out = out
	return nil
}
func (b *nullBolt) Execute(t *sdk.Tuple) { b.out.Ack(t) }
func (b *nullBolt) Cleanup() error       { return nil }

var _ = time.Second
