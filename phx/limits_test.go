package phx

import (
	"errors"
	"strings"
	"testing"

	"github.com/phxgo/phxgo/serializer"
)

func TestInboundLimitDefaults(t *testing.T) {
	cfg := Config{}.withDefaults()
	if cfg.MaxTopicBytes != 1024 || cfg.MaxEventBytes != 256 || cfg.MaxRefBytes != 64 ||
		cfg.LogValueBytes != 200 || cfg.LogWarnsPerSecond != 10 {
		t.Fatalf("defaults: topic %d event %d ref %d log value %d warns/s %d", cfg.MaxTopicBytes,
			cfg.MaxEventBytes, cfg.MaxRefBytes, cfg.LogValueBytes, cfg.LogWarnsPerSecond)
	}
	cfg = Config{MaxTopicBytes: -5, MaxEventBytes: 17, MaxRefBytes: 3, LogWarnsPerSecond: -1}.withDefaults()
	if cfg.MaxTopicBytes != -1 || cfg.MaxEventBytes != 17 || cfg.MaxRefBytes != 16 || cfg.LogWarnsPerSecond != -1 {
		t.Fatalf("explicit: topic %d event %d ref %d warns/s %d", cfg.MaxTopicBytes, cfg.MaxEventBytes,
			cfg.MaxRefBytes, cfg.LogWarnsPerSecond)
	}
}

// padTo returns prefix padded with x to exactly n bytes.
func padTo(prefix string, n int) string { return prefix + strings.Repeat("x", n-len(prefix)) }

// jsonRef returns a JSON string ref of exactly n bytes, quotes included.
func jsonRef(n int) string { return `"` + strings.Repeat("7", n-2) + `"` }

// TestInboundLengthLimits pins each default limit from both sides: a value
// exactly at the limit is served, one byte more is refused.
func TestInboundLengthLimits(t *testing.T) {
	srv := newServerForTest(t, Config{})
	srv.Channel("room:*", &testChannel{})
	h := srv.connectForTest(t, serializer.V2, Assigns{})

	atLimit := padTo("room:", 1024)
	h.in(`["1","1","` + atLimit + `","phx_join",{}]`)
	h.expect(`["1","1","` + atLimit + `","phx_reply",{"response":{"n":1},"status":"ok"}]`)
	h.in(`["2","2","` + padTo("room:", 1025) + `","phx_join",{}]`)
	h.expect(`[null,"2","","phx_reply",{"response":{"reason":"topic too long"},"status":"error"}]`)
	// A topic that is not a string counts its JSON text.
	h.in(`["3","3",[` + padTo(`"`, 1023) + `"],"phx_join",{}]`)
	h.expect(`[null,"3","","phx_reply",{"response":{"reason":"topic too long"},"status":"error"}]`)
	// Any event, joined topic or not.
	h.in(`["1","4","` + padTo("room:", 1025) + `","echo",{}]`)
	h.expect(`[null,"4","","phx_reply",{"response":{"reason":"topic too long"},"status":"error"}]`)

	h.in(`["1","5","room:a","phx_join",{}]`)
	h.next()
	h.in(`["1","6","room:a","` + padTo("e", 256) + `",{}]`) // reaches the channel
	h.expect(`["1","6","room:a","phx_reply",{"response":{"reason":"unknown"},"status":"error"}]`)
	h.in(`["1","7","room:a","` + padTo("e", 257) + `",{}]`)
	h.expect(`[null,"7","room:a","phx_reply",{"response":{"reason":"event too long"},"status":"error"}]`)
	h.in(`["1","8","room:a",[` + padTo(`"`, 255) + `"],{}]`)
	h.expect(`[null,"8","room:a","phx_reply",{"response":{"reason":"event too long"},"status":"error"}]`)

	ref := jsonRef(64)
	h.in(`["1",` + ref + `,"room:a","echo",{}]`)
	h.expect(`["1",` + ref + `,"room:a","phx_reply",` + okEmpty + `]`)
	h.in(`[` + ref + `,"9","room:a","echo",{}]`)
	h.expect(`["1","9","room:a","phx_reply",` + okEmpty + `]`)
	for _, frame := range []string{
		`["1",` + jsonRef(65) + `,"room:a","echo",{}]`,
		`[` + jsonRef(65) + `,"10","room:a","echo",{}]`,
		`["1",{"k":"` + strings.Repeat("r", 60) + `"},"room:a","echo",{}]`,
	} {
		err := h.sock.handleFrame([]byte(frame), false)
		if !errors.Is(err, ErrRefTooLong) || closeCodeFor(err) != ClosePolicyViolation || closeReasonFor(err) != "ref too long" {
			t.Fatalf("%.40s…: %v (close %d)", frame, err, closeCodeFor(err))
		}
	}
	h.expectNone()
	h.expectOpen() // closing is the transport's job (see the wire tests)
	if n := h.sock.NumChannels(); n != 2 {
		t.Fatalf("%d channels, want 2", n)
	}
}

// TestInboundLimitsConfigured checks that the Config fields drive the
// limits, in V1 too, and that a negative one disables its limit.
func TestInboundLimitsConfigured(t *testing.T) {
	srv := newServerForTest(t, Config{MaxTopicBytes: 20, MaxEventBytes: 17, MaxRefBytes: 18})
	srv.Channel("room:*", &testChannel{})
	h := srv.connectForTest(t, serializer.V1, Assigns{})
	topic := padTo("room:", 20)
	h.in(`{"topic":"` + topic + `","event":"phx_join","payload":{},"ref":"1"}`)
	h.expect(v1Reply(`"1"`, `"`+topic+`"`, `{"n":1}`, "ok"))
	h.in(`{"topic":"` + topic + `y","event":"phx_join","payload":{},"ref":"2"}`)
	h.expect(v1Reply(`"2"`, `""`, `{"reason":"topic too long"}`, "error"))
	h.in(`{"topic":"` + topic + `","event":"echo","payload":{},"ref":` + jsonRef(18) + `}`)
	h.expect(v1Reply(jsonRef(18), `"`+topic+`"`, `{}`, "ok"))
	h.in(`{"topic":"` + topic + `","event":"` + padTo("e", 18) + `","payload":{},"ref":"4"}`)
	h.expect(v1Reply(`"4"`, `"`+topic+`"`, `{"reason":"event too long"}`, "error"))
	frame := `{"topic":"room:1","event":"e","payload":{},"ref":` + jsonRef(19) + `}`
	if err := h.sock.handleFrame([]byte(frame), false); !errors.Is(err, ErrRefTooLong) {
		t.Fatalf("19-byte ref: %v", err)
	}

	srv = newServerForTest(t, Config{MaxTopicBytes: -1, MaxEventBytes: -1, MaxRefBytes: -1})
	srv.Channel("room:*", &testChannel{})
	h = srv.connectForTest(t, serializer.V2, Assigns{})
	long, ref := padTo("room:", 5000), jsonRef(500)
	h.in(`["1",` + ref + `,"` + long + `","phx_join",{}]`)
	h.expect(`["1",` + ref + `,"` + long + `","phx_reply",{"response":{"n":1},"status":"ok"}]`)
	h.in(`["1","2","` + long + `","` + padTo("e", 1000) + `",{}]`)
	h.expect(`["1","2","` + long + `","phx_reply",{"response":{"reason":"unknown"},"status":"error"}]`)
}
