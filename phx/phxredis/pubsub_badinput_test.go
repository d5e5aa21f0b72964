package phxredis

import (
	"strings"
	"testing"

	"github.com/phxgo/phxgo/phx/phxredis/redistest"
	"github.com/phxgo/phxgo/phx/pubsub"
)

// Nothing from Redis is trusted: junk, an oversized message, an envelope
// of another version, one whose topic is not its channel's, and payloads
// that are not JSON objects are dropped and counted, never delivered, and
// the node goes on working.
func TestBadInputDropped(t *testing.T) {
	s := redistest.NewServer(t)
	p := node(t, s.URL(), false, PubSubOptions{Node: "victim", MaxMessageBytes: 4096})
	other := node(t, s.URL(), false, PubSubOptions{Node: "other"})
	r := newRec()
	p.Subscribe("room:t", r)
	raw := client(t, s.URL(), false)
	env := func(topic, payload string) string {
		return string(appendEnvelope(nil, "intruder", &pubsub.Broadcast{Topic: topic, Event: "e", Payload: []byte(payload)}))
	}
	do(t, s, "publish", "phx:room:t", "junk")
	bad := []string{
		env("room:t", `{"big":"`+strings.Repeat("x", 5000)+`"}`), // oversized
		"\x02" + env("room:t", `{}`)[1:],                         // another version
		env("room:other", `{"a":1}`),                             // not its channel's topic
		env("room:t", `{"a":`),                                   // broken JSON
		env("room:t", `[1,2]`),                                   // not an object
		env("room:t", `{"a":1}</script>`),                        // trailing bytes
		env("room:t", "{\"a\":\"\xff\"}"),                        // not UTF-8
		"",
	}
	for _, m := range bad {
		if err := raw.Publish(bg, "phx:room:t", m).Err(); err != nil {
			t.Fatal(err)
		}
	}
	// A good message from a real node still gets through, after them.
	if err := other.Broadcast(bc("room:t", `{"ok":true}`)); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, `{"ok":true}`)
	if got := r.payloads(); len(got) != 1 {
		t.Fatalf("delivered %q, want the good one only", got)
	}
	if st := p.Stats(); st.Dropped != uint64(1+len(bad)) || st.Received != 1 || !st.Connected {
		t.Fatalf("stats %+v: want %d dropped, 1 received", st, 1+len(bad))
	}
	// A forged envelope carrying this node's name is skipped as its own.
	own := string(appendEnvelope(nil, "victim", bc("room:t", `{"forged":1}`)))
	if err := raw.Publish(bg, "phx:room:t", own).Err(); err != nil {
		t.Fatal(err)
	}
	if err := other.Broadcast(bc("room:t", `{"ok":2}`)); err != nil {
		t.Fatal(err)
	}
	r.waitFor(t, `{"ok":2}`)
	if got := r.payloads(); len(got) != 2 {
		t.Fatalf("delivered %q", got)
	}
}

// A broadcast larger than MaxMessageBytes is delivered on its node and
// refused for the others, with ErrTooLarge.
func TestBroadcastTooLarge(t *testing.T) {
	s := redistest.NewServer(t)
	p := node(t, s.URL(), false, PubSubOptions{MaxMessageBytes: 1024})
	r := newRec()
	p.Subscribe("room:t", r)
	big := bc("room:t", `{"x":"`+strings.Repeat("x", 2000)+`"}`)
	if err := p.Broadcast(big); err != ErrTooLarge {
		t.Fatalf("Broadcast of 2 KB with a 1 KiB bound: %v, want ErrTooLarge", err)
	}
	if len(r.payloads()) != 1 {
		t.Fatal("not delivered locally")
	}
	if st := p.Stats(); st.PublishDropped != 1 || st.Queued != 0 {
		t.Fatalf("stats %+v", st)
	}
}
