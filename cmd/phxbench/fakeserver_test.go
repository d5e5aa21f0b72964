package main

import (
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/phxgo/phxgo/serializer"
)

// fakeServer is a minimal Phoenix server for tests: the example app's
// bench:* contract (join ok, echo, new_msg broadcast), heartbeats, leave,
// and a rejected connect for token=bad. One goroutine per connection, which
// is fine in a test.
type fakeServer struct {
	ln       net.Listener
	mu       sync.Mutex
	chans    *fakeChannels[*fakeConn] // shared by the servers of a fake cluster
	conns    map[*fakeConn]bool
	accepted atomic.Int64 // upgraded connections
	wg       sync.WaitGroup
}

type fakeConn struct {
	c    net.Conn
	wmu  sync.Mutex
	vsn  serializer.Version
	user string
}

func startFakeServer(t *testing.T) *fakeServer {
	t.Helper()
	return startFakeNode(t, &fakeChannels[*fakeConn]{})
}

// startFakeCluster starts n fake servers that share their topics, as the
// nodes of a cluster do: a broadcast on one reaches the subscribers of all.
func startFakeCluster(t *testing.T, n int) []*fakeServer {
	t.Helper()
	chans := &fakeChannels[*fakeConn]{}
	var ss []*fakeServer
	for range n {
		ss = append(ss, startFakeNode(t, chans))
	}
	return ss
}

func startFakeNode(t *testing.T, chans *fakeChannels[*fakeConn]) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &fakeServer{ln: ln, conns: map[*fakeConn]bool{}, chans: chans}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.close)
	return s
}

func (s *fakeServer) url() string { return "ws://" + s.ln.Addr().String() + "/socket/websocket" }

func (s *fakeServer) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *fakeServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		fc := &fakeConn{c: c}
		s.mu.Lock()
		s.conns[fc] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(fc)
	}
}

func (s *fakeServer) serve(fc *fakeConn) {
	defer s.wg.Done()
	defer s.drop(fc)
	var q url.Values
	up := ws.Upgrader{OnRequest: func(uri []byte) error {
		u, err := url.ParseRequestURI(string(uri))
		if err == nil {
			q = u.Query()
		}
		return err
	}}
	if _, err := up.Upgrade(fc.c); err != nil {
		return
	}
	s.accepted.Add(1)
	v, err := serializer.ParseVsn(q.Get("vsn"))
	if err != nil {
		return
	}
	fc.vsn = v
	user, ok := strings.CutPrefix(q.Get("token"), "user:")
	if !ok {
		s.reject(fc)
		return
	}
	fc.user = user
	for {
		data, op, err := wsutil.ReadClientData(fc.c)
		if err != nil {
			return
		}
		m, err := serializer.Decode(v, data, op == ws.OpBinary)
		if err != nil {
			return
		}
		s.chans.handle(fc, &m)
	}
}

// reject answers as phxd does for a refused token.
func (s *fakeServer) reject(fc *fakeConn) {
	fc.send(&serializer.Message{Kind: serializer.KindPush, Topic: "phoenix", Event: "phx_connect_error",
		Payload: []byte(`{"reason":"unauthorized"}`)})
	fc.wmu.Lock()
	_ = wsutil.WriteServerMessage(fc.c, ws.OpClose, ws.NewCloseFrameBody(4401, "unauthorized"))
	fc.wmu.Unlock()
}

func (s *fakeServer) drop(fc *fakeConn) {
	s.mu.Lock()
	delete(s.conns, fc)
	s.mu.Unlock()
	s.chans.drop(fc)
	_ = fc.c.Close()
}

func (fc *fakeConn) userID() string { return fc.user }

func (fc *fakeConn) send(m *serializer.Message) {
	frame, binary, err := serializer.Encode(fc.vsn, nil, m)
	if err != nil {
		return
	}
	op := ws.OpText
	if binary {
		op = ws.OpBinary
	}
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	_ = wsutil.WriteServerMessage(fc.c, op, frame)
}
