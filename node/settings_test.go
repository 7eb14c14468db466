package node

import (
	"strings"
	"testing"
	"time"

	"github.com/gale-stream/gale/sdk"
	"github.com/gale-stream/gale/sdk/spec"
)

func TestSettingsFromConfig(t *testing.T) {
	def := DefaultSettings()
	cases := []struct {
		name    string
		conf    sdk.Config
		check   func(Settings) bool
		wantErr string
	}{
		{"defaults", sdk.Config{}, func(s Settings) bool { return s == def }, ""},
		{"ints and durations", sdk.Config{
			KeyAckers: sdk.Int(0), KeyBatchSize: sdk.String("256"), KeyBatchLinger: sdk.String("1ms"),
			KeyMessageTimeout: sdk.Double(2.5), KeyIdleFlushGap: sdk.Int(0),
		}, func(s Settings) bool {
			return s.Ackers == 0 && s.BatchSize == 256 && s.BatchLinger == time.Millisecond &&
				s.MessageTimeout == 2500*time.Millisecond && s.IdleFlushGap == 0 && s.QueueSize == def.QueueSize
		}, ""},
		{"byte bounds", sdk.Config{KeyBatchBytes: sdk.Int(65536), KeyQueueBytes: sdk.String("1073741824")}, func(s Settings) bool {
			return s.BatchBytes == 65536 && s.QueueBytes == 1<<30 && s.CreditWindowBytes() == 1<<30
		}, ""},
		{"bounds", sdk.Config{KeyQueueSize: sdk.Int(0)}, nil, "config topology.queue.size: must be at least 1, got 0"},
		{"byte bound too small", sdk.Config{KeyQueueBytes: sdk.Int(100)}, nil, "config topology.queue.bytes: must be at least 1024, got 100"},
		{"kind", sdk.Config{KeySpoutWait: sdk.Bool(true)}, nil, "config topology.spout.wait: want a duration"},
		{"remote frame gap", sdk.Config{KeyRemoteFrameGap: sdk.String("250us")}, func(s Settings) bool { return s.RemoteFrameGap == 250*time.Microsecond }, ""},
		{"remote frame gap off", sdk.Config{KeyRemoteFrameGap: sdk.Int(0)}, func(s Settings) bool { return s.RemoteFrameGap == 0 }, ""},
		{"remote frame gap bound", sdk.Config{KeyRemoteFrameGap: sdk.String("2m")}, nil, "config topology.remote.batch.gap: must be at most"},
		{"precise wake-ups", sdk.Config{KeyPreciseWakeups: sdk.Bool(true)}, func(s Settings) bool { return s.PreciseWakeups }, ""},
		{"precise wake-ups from --conf", sdk.Config{KeyPreciseWakeups: sdk.String("true")}, func(s Settings) bool { return s.PreciseWakeups }, ""},
		{"precise wake-ups kind", sdk.Config{KeyPreciseWakeups: sdk.Int(1)}, nil, "config topology.wakeup.precise: want true or false, got int 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := SettingsFromConfig(tc.conf)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !tc.check(s) {
				t.Fatalf("got %+v, %v", s, err)
			}
		})
	}
}

// TestDefaultsAreValidSettings: every default is a value the spec
// validator would accept for its key.
func TestDefaultsAreValidSettings(t *testing.T) {
	d := DefaultSettings()
	durations := map[string]time.Duration{
		KeyMessageTimeout: d.MessageTimeout, KeyBatchLinger: d.BatchLinger,
		KeyIdleFlushGap: d.IdleFlushGap, KeyRemoteFrameGap: d.RemoteFrameGap, KeySpoutWait: d.SpoutWait,
		KeyExternalHeartbeat: defaultExternalHeartbeat,
	}
	for k, v := range durations {
		if err := spec.MustRuntimeKey(k).Check(sdk.ValueToProto(sdk.String(v.String()))); err != nil {
			t.Errorf("default of %s: %v", k, err)
		}
	}
	ints := map[string]int{
		KeyAckers: d.Ackers, KeyMaxSpoutPend: d.MaxSpoutPending, KeyBatchSize: d.BatchSize,
		KeyRemoteBatch: d.RemoteBatchSize, KeyQueueSize: d.QueueSize, KeyBatchBytes: d.BatchBytes,
		KeyQueueBytes:          int(d.QueueBytes),
		KeyExternalMaxInflight: defaultExternalMaxInflight, KeyExternalMaxBytes: defaultExternalMaxBytes,
	}
	for k, v := range ints {
		if err := spec.MustRuntimeKey(k).Check(sdk.ValueToProto(sdk.Int(int64(v)))); err != nil {
			t.Errorf("default of %s: %v", k, err)
		}
	}
	if err := spec.MustRuntimeKey(KeyPreciseWakeups).Check(sdk.ValueToProto(sdk.Bool(d.PreciseWakeups))); err != nil {
		t.Errorf("default of %s: %v", KeyPreciseWakeups, err)
	}
}

// TestCreditWindowHoldsAQueueOfFrames: the credit a node gives per task
// covers a full queue of the largest batches that arrive, so a stream of
// full frames does not wait for credit while the task's queue has room.
func TestCreditWindowHoldsAQueueOfFrames(t *testing.T) {
	cases := []struct {
		queue, batch, remote int
		want                 int64
	}{
		{64, 128, 512, 64 * 512}, // the defaults: frames larger than local batches
		{8, 128, 512, 8 * 512},
		{8, 1024, 512, 8 * 1024}, // local batches larger than frames
		{1, 1, 1, 1},
	}
	for _, tc := range cases {
		s := DefaultSettings()
		s.QueueSize, s.BatchSize, s.RemoteBatchSize = tc.queue, tc.batch, tc.remote
		if got := s.CreditWindow(); got != tc.want {
			t.Errorf("queue %d, batch %d, remote batch %d: window %d, want %d", tc.queue, tc.batch, tc.remote, got, tc.want)
		}
	}
	if got, want := DefaultSettings().CreditWindow(), int64(DefaultSettings().QueueSize*DefaultSettings().RemoteBatchSize); got != want {
		t.Errorf("default window %d, want %d", got, want)
	}
}
