package phx

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/phxgo/phxgo/serializer"
)

// compressingRoom is a server with compression on and a room:* channel
// that hands each joined instance to the test.
func compressingRoom(t *testing.T) (*Server, *keepChannel, *ConnectInfo) {
	srv := NewServer(Config{Logger: testLogger(), JoinDeadline: -1, LongPoll: LongPollConfig{Disabled: true},
		Compress: CompressConfig{Enabled: true}})
	t.Cleanup(func() { _ = srv.Close() })
	keep := &keepChannel{}
	srv.Channel("room:*", keep)
	return srv, keep, &ConnectInfo{Params: Params{}, RemoteAddr: netip.MustParseAddrPort("127.0.0.1:1")}
}

// A SharedPush sent to 500 compressing joiners in two serializer formats is
// compressed once per format (it was once per joiner: a room's
// presence_state compressed for each of its joiners cost more than writing
// it plain), every compressing socket gets it compressed and inflating to
// the plain frame, the others get the plain frame, and a push under
// MinSize is never compressed.
func TestSharedPushCompressedOnce(t *testing.T) {
	n := countCompressions(t)
	srv, keep, info := compressingRoom(t)
	const subs, plain = 500, 10
	trs := make([]*zTransport, subs+plain)
	for i := range trs {
		ver, join := serializer.V2, `["1","1","room:x","phx_join",{}]`
		if i%2 == 1 {
			ver, join = serializer.V1, `{"topic":"room:x","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}`
		}
		sock := srv.newSocket(info, ver, Assigns{})
		trs[i] = &zTransport{on: i < subs, keep: i < 2}
		srv.opened(sock, trs[i])
		if err := sock.handleFrame([]byte(join), false); err != nil {
			t.Fatal(err)
		}
	}
	zWait(t, "join replies", func() bool { f, _ := zSums(trs); return f == subs+plain })

	body := strings.Repeat(`"a member's meta that is long enough to compress",`, 8)
	sp, err := NewSharedPush("presence_state", RawJSON(`{"list":[`+body+`1]}`))
	if err != nil {
		t.Fatal(err)
	}
	keep.mu.Lock()
	chs := append([]*Channel(nil), keep.joined...)
	keep.mu.Unlock()
	for _, c := range chs {
		if err := c.PushShared(sp); err != nil {
			t.Fatal(err)
		}
	}
	zWait(t, "pushes", func() bool { f, z := zSums(trs); return f+z == 2*(subs+plain) })
	if got := n.Load(); got != 2 {
		t.Fatalf("%d compressions of one shared push to %d joiners in 2 formats, want 2", got, subs)
	}
	zCheckOne(t, trs, subs)
	for i, ver := range []serializer.Version{serializer.V2, serializer.V1} {
		want, _, err := sp.encoded(ver, "room:x", []byte(`"1"`)) // join_ref as the wire has it
		if err != nil {
			t.Fatal(err)
		}
		if got := inflateFrame(t, *trs[i].last.Load()); !bytes.Equal(got, want) {
			t.Fatalf("%v frame inflates to %q, want %q", ver, got, want)
		}
	}

	tiny, err := NewSharedPush("tiny", RawJSON(`{"x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range chs {
		if err := c.PushShared(tiny); err != nil {
			t.Fatal(err)
		}
	}
	zWait(t, "tiny pushes", func() bool { f, _ := zSums(trs); return f == 2*(subs+plain)+plain })
	if got := n.Load(); got != 2 {
		t.Fatalf("%d compressions after a push under MinSize", got)
	}
}

// The compressed frames a SharedPush keeps are bounded like its plain ones
// (maxSharedFrames): joiners with more distinct join_refs than that get
// their frame compressed at each push, nothing more is kept.
func TestSharedPushCompressedBound(t *testing.T) {
	n := countCompressions(t)
	srv, keep, info := compressingRoom(t)
	const socks = maxSharedFrames + 4
	trs := make([]*zTransport, socks)
	for i := range trs {
		sock := srv.newSocket(info, serializer.V2, Assigns{})
		trs[i] = &zTransport{on: true}
		srv.opened(sock, trs[i])
		join := fmt.Sprintf(`["%d","%d","room:x","phx_join",{}]`, i+1, i+1) // a join_ref of its own
		if err := sock.handleFrame([]byte(join), false); err != nil {
			t.Fatal(err)
		}
	}
	zWait(t, "join replies", func() bool { f, _ := zSums(trs); return f == socks })
	sp, err := NewSharedPush("presence_state", RawJSON(`{"list":["`+strings.Repeat("a meta long enough to compress ", 8)+`"]}`))
	if err != nil {
		t.Fatal(err)
	}
	keep.mu.Lock()
	chs := append([]*Channel(nil), keep.joined...)
	keep.mu.Unlock()
	for range 2 {
		for _, c := range chs {
			if err := c.PushShared(sp); err != nil {
				t.Fatal(err)
			}
		}
	}
	zWait(t, "pushes", func() bool { _, z := zSums(trs); return z == 2*socks })
	if got := sp.Frames(); got != maxSharedFrames {
		t.Fatalf("%d frames kept, want %d", got, maxSharedFrames)
	}
	// Kept frames: compressed once each; the others: at each of 2 pushes.
	if got, want := n.Load(), int64(maxSharedFrames+2*(socks-maxSharedFrames)); got != want {
		t.Fatalf("%d compressions, want %d", got, want)
	}
}

// PushShared to a joined instance, its frame kept by sp, allocates
// nothing: plain or compressed (the send is made inline; only a write held
// for a joining instance needs a closure).
func TestSharedPushAllocations(t *testing.T) {
	srv, keep, info := compressingRoom(t)
	trs := []*zTransport{{on: true}, {on: false}}
	for _, tr := range trs {
		sock := srv.newSocket(info, serializer.V2, Assigns{})
		srv.opened(sock, tr)
		if err := sock.handleFrame([]byte(`["1","1","room:x","phx_join",{}]`), false); err != nil {
			t.Fatal(err)
		}
	}
	zWait(t, "join replies", func() bool { f, _ := zSums(trs); return f == int64(len(trs)) })
	sp, err := NewSharedPush("presence_state", RawJSON(`{"list":["`+strings.Repeat("a meta long enough to compress ", 8)+`"]}`))
	if err != nil {
		t.Fatal(err)
	}
	keep.mu.Lock()
	chs := append([]*Channel(nil), keep.joined...)
	keep.mu.Unlock()
	for _, c := range chs {
		a := testing.AllocsPerRun(100, func() {
			if err := c.PushShared(sp); err != nil {
				t.Fatal(err)
			}
		})
		t.Logf("compressing=%v: %v allocations", c.socket.tr.(*zTransport).on, a)
		if a != 0 {
			t.Errorf("PushShared to a joined instance (compressing=%v): %v allocations, want 0", c.socket.tr.(*zTransport).on, a)
		}
	}
	if _, z := zSums(trs); z == 0 {
		t.Fatal("nothing sent compressed")
	}
}

// sharedJoinChannel pushes sp from its Join.
type sharedJoinChannel struct{ sp *SharedPush }

func (k sharedJoinChannel) Join(c *Channel, _ Payload) (any, error)  { return nil, c.PushShared(k.sp) }
func (sharedJoinChannel) HandleIn(*Channel, *InMessage) (any, error) { return nil, nil }

// A SharedPush made while the instance joins is held, and written after
// the join reply.
func TestSharedPushDuringJoin(t *testing.T) {
	srv := newServerForTest(t, Config{})
	sp, err := NewSharedPush("during_join", RawJSON(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	srv.Channel("room:*", sharedJoinChannel{sp})
	h := srv.connectForTest(t, serializer.V2, Assigns{})
	h.in(`["1","1","room:a","phx_join",{}]`)
	h.expect(`["1","1","room:a","phx_reply",` + okEmpty + `]`)
	h.expect(`["1",null,"room:a","during_join",{"a":1}]`)
}
