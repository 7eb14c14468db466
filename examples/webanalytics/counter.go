package webanalytics

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"

	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/ingest"
)

// ClassEventCounter is the class of EventCounter.
const ClassEventCounter = "webanalytics.EventCounter"

// KeyCountsOutput is the file EventCounter writes its totals to when its
// task ends (one "type<TAB>count" line per event type, sorted, and a
// "total" line); unset writes none. With parallelism p, task i writes
// FILE.i when p > 1.
const KeyCountsOutput = "webanalytics.counts"

// EventCounter is the sink of ingest.yaml, the topology that runs the
// ingest on its own (to try the tracker or the generator without the
// rest of the application): it counts
// events by type, acks them, logs the counts on every tick tuple
// (topology.tick.tuple.freq.secs) and writes them at the end.
type EventCounter struct {
	log    *slog.Logger
	out    *sdk.BoltCollector
	path   string
	counts map[string]int64
	total  int64
}

func init() {
	sdk.MustRegisterBolt(ClassEventCounter, func() sdk.Bolt { return &EventCounter{} })
	sdk.DeclareConfigKeys(KeyCountsOutput)
}

// DeclareOutputFields declares no stream: EventCounter is a sink.
func (c *EventCounter) DeclareOutputFields(*sdk.OutputDeclarer) {}

// Prepare reads the output path.
func (c *EventCounter) Prepare(_ context.Context, tc *sdk.TaskContext, out *sdk.BoltCollector) error {
	c.out, c.log, c.counts = out, tc.Log, map[string]int64{}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.path = tc.Config.String(KeyCountsOutput, "")
	if c.path != "" && len(tc.ComponentTasks[tc.Component]) > 1 {
		c.path = fmt.Sprintf("%s.%d", c.path, tc.TaskIndex)
	}
	return nil
}

// Execute counts an event by its "type" field and acks it.
func (c *EventCounter) Execute(t *sdk.Tuple) {
	if t.IsTick() {
		c.log.Info("web-analytics events", "total", c.total, "by_type", c.String())
		c.out.Ack(t)
		return
	}
	if t.Source != nil && t.Source.FieldIndex(ingest.FieldType) == ingest.IdxType && len(t.Values) > ingest.IdxType {
		c.counts[t.Values[ingest.IdxType].Str()]++
	} else {
		c.counts["(no type field)"]++
	}
	c.total++
	c.out.Ack(t)
}

// String formats the counts as type=count pairs, sorted by type.
func (c *EventCounter) String() string {
	types := make([]string, 0, len(c.counts))
	for k := range c.counts {
		types = append(types, k)
	}
	slices.Sort(types)
	var b strings.Builder
	for i, k := range types {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, c.counts[k])
	}
	return b.String()
}

// Cleanup writes the totals.
func (c *EventCounter) Cleanup() error {
	c.log.Info("web-analytics events at the end", "total", c.total, "by_type", c.String())
	if c.path == "" {
		return nil
	}
	var b strings.Builder
	types := make([]string, 0, len(c.counts))
	for k := range c.counts {
		types = append(types, k)
	}
	slices.Sort(types)
	for _, k := range types {
		fmt.Fprintf(&b, "%s\t%d\n", k, c.counts[k])
	}
	fmt.Fprintf(&b, "total\t%d\n", c.total)
	if err := os.WriteFile(c.path, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("%s: write %s (%s): %w", ClassEventCounter, c.path, KeyCountsOutput, err)
	}
	return nil
}
