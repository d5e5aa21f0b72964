package phxredis

import (
	"io"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/phxgo/phxgo/phx/phxredis/redistest"
	"github.com/phxgo/phxgo/phx/pubsub"
)

// The tests in this file run testdata/phoenix_peer.escript, an Erlang
// stand-in for an Elixir node on phoenix_pubsub_redis: it writes and reads
// the channel with the real term_to_binary and binary_to_term.

const testPubSubName = "MyApp.PubSub"

// phoenixNode starts a PubSub in the Phoenix format on url.
func phoenixNode(t *testing.T, url, node string, o PhoenixOptions) *Phoenix {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ps := node0(t, url, PubSubOptions{Node: node, Logger: quiet})
	o.PubSubName, o.NodeName = testPubSubName, node
	p, err := NewPhoenix(ps, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func node0(t *testing.T, url string, o PubSubOptions) *PubSub {
	p, err := NewPubSub(client(t, url, false), o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// peer runs the Phoenix peer (redistest.PhoenixPeer) with args.
func peer(t *testing.T, args ...string) (<-chan map[string]any, *exec.Cmd) {
	t.Helper()
	return redistest.PhoenixPeer(t, args...)
}

func port(s *redistest.Server) string { return strconv.Itoa(s.Port) }

// An Elixir node's broadcasts reach phxgo subscribers on every phxgo node
// exactly once; what an Elixir node would ignore, and what is not a
// channel broadcast or is hostile, is dropped and counted.
func TestPhoenixFromElixir(t *testing.T) {
	srv := redistest.NewServer(t)
	const max = 64 << 10
	go1 := phoenixNode(t, srv.URL(), "go1", PhoenixOptions{MaxMessageBytes: max})
	go2 := phoenixNode(t, srv.URL(), "go2", PhoenixOptions{MaxMessageBytes: max})
	topics := []string{"t:atom_keys", "t:binary_keys", "t:compressed", "t:binary", "users_socket:42",
		"t:only_me", "t:node_binary", "t:only_other", "t:echo", "t:x", "t:pd", "t:pid", "t:tuple", "t:utf8", "t:list", "t:done"}
	recs := map[string][2]*rec{}
	for _, topic := range topics {
		r1, r2 := newRec(), newRec()
		go1.Subscribe(topic, r1)
		go2.Subscribe(topic, r2)
		recs[topic] = [2]*rec{r1, r2}
	}

	lines, cmd := peer(t, "publish", port(srv), PhoenixChannel(testPubSubName), "go1", strconv.Itoa(max))
	kinds := map[string]uint64{}
	for l := range lines {
		if k, ok := l["kind"].(string); ok {
			kinds[k]++
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("escript publish: %v", err)
	}
	recs["t:done"][0].waitFor(t, "{}")
	recs["t:done"][1].waitFor(t, "{}")

	type want struct {
		event, payload string
		binary         bool
	}
	wants := map[string]want{
		"t:atom_keys":     {"new_msg", `{"body":"hi","f":1.5,"list":[1,"a","abc",false],"n":1,"nested":{"x":{"y":-2}},"none":null,"ok":true}`, false},
		"t:binary_keys":   {"new_msg", `{"big":1180591620717411303424,"body":"hé","empty":[],"esc":"q\"b\\n\n","neg":-70000}`, false},
		"t:compressed":    {"new_msg", `{"text":"` + strings.Repeat("abc", 1000) + `"}`, false},
		"t:binary":        {"bin", "\x01\x02\x03\xff", true},
		"users_socket:42": {"disconnect", `{}`, false},
		"t:only_me":       {"new_msg", `{"a":1}`, false},
		"t:node_binary":   {"new_msg", `{}`, false},
		"t:done":          {"done", `{}`, false},
	}
	echo := want{"new_msg", `{}`, false}
	for _, topic := range topics {
		for i, r := range recs[topic] {
			r.mu.Lock()
			got := append([]*pubsub.Broadcast(nil), r.got...)
			r.mu.Unlock()
			w, deliver := wants[topic]
			if topic == "t:only_me" && i == 1 {
				deliver = false // :only for go1
			}
			if topic == "t:echo" && i == 1 {
				w, deliver = echo, true // go1's echo is a broadcast from go1 to go2
			}
			if !deliver {
				if len(got) != 0 {
					t.Errorf("go%d %s: got %d broadcasts, want none", i+1, topic, len(got))
				}
				continue
			}
			if len(got) != 1 {
				t.Errorf("go%d %s: got %d broadcasts, want 1", i+1, topic, len(got))
				continue
			}
			b := got[0]
			if b.Topic != topic || b.Event != w.event || string(b.Payload) != w.payload || b.Binary != w.binary {
				t.Errorf("go%d %s: got %s %s %q binary=%v, want %s %q binary=%v",
					i+1, topic, b.Topic, b.Event, b.Payload, b.Binary, w.event, w.payload, w.binary)
			}
		}
	}
	st := go1.Stats()
	wantSt := PhoenixStats{
		Received: kinds["deliver"], NotForUs: kinds["not_for_us"], Echoes: kinds["echo"], Unwatched: kinds["unwatched"],
		Skipped: kinds["skipped"], Dropped: kinds["dropped"] + kinds["unencodable"], Unencodable: kinds["unencodable"],
	}
	if st != wantSt {
		t.Errorf("go1 stats %+v, want %+v", st, wantSt)
	}
	// go2 is not go1: the :only message is not for it, the echo is go1's.
	st2 := go2.Stats()
	wantSt.Received, wantSt.NotForUs, wantSt.Echoes = kinds["deliver"]-1+kinds["echo"], kinds["not_for_us"]+1, 0
	if st2 != wantSt {
		t.Errorf("go2 stats %+v, want %+v", st2, wantSt)
	}
	if wantSt.Skipped < 4 || wantSt.Unencodable < 4 || wantSt.Dropped < 12 || wantSt.Unwatched != 1 {
		t.Errorf("the escript's cases went missing: %v", kinds)
	}
}

// A phxgo node's broadcasts are published once on the Phoenix channel as
// an Elixir node writes them, reach the other phxgo nodes once, and
// presence_diff stays among phxgo nodes.
func TestPhoenixToElixir(t *testing.T) {
	srv := redistest.NewServer(t)
	go1 := phoenixNode(t, srv.URL(), "go1", PhoenixOptions{})
	go2 := phoenixNode(t, srv.URL(), "go2@host", PhoenixOptions{CompressionLevel: 9})
	r1, r2 := newRec(), newRec()
	go1.Subscribe("room:1", r1)
	go2.Subscribe("room:1", r2)
	go1.Subscribe("t:end", r1)
	go2.Subscribe("t:end", r2)

	lines, _ := peer(t, "subscribe", port(srv), PhoenixChannel(testPubSubName), "5")
	if l := <-lines; l["ready"] != true {
		t.Fatalf("escript: %v", l)
	}
	long := strings.Repeat("x", 2000)
	send := []struct {
		node         *Phoenix
		topic, event string
		payload      string
		binary       bool
		term         string
		compressed   bool
	}{
		{go1, "room:1", "new_msg", `{"body":"hi","n":1,"f":2.5,"big":123456789012345678901234567890,"nested":{"a":[true,null,"x",-1e3]}}`, false,
			`{3,except,go1,<<"room:1">>,#{'__struct__' => 'Elixir.Phoenix.Socket.Broadcast',event => <<"new_msg">>,payload => #{<<"big">> => 123456789012345678901234567890,<<"body">> => <<"hi">>,<<"f">> => 2.5,<<"n">> => 1,<<"nested">> => #{<<"a">> => [true,nil,<<"x">>,-1.0e3]}},topic => <<"room:1">>},'Elixir.Phoenix.Channel.Server'}`, false},
		{go1, "room:1", "bin", "\x00\x01\x02", true,
			`{3,except,go1,<<"room:1">>,#{'__struct__' => 'Elixir.Phoenix.Socket.Broadcast',event => <<"bin">>,payload => {binary,<<0,1,2>>},topic => <<"room:1">>},'Elixir.Phoenix.Channel.Server'}`, false},
		{go1, "room:1", "presence_diff", `{"joins":{},"leaves":{}}`, false, "", false},
		{go1, "users_socket:7", "disconnect", `{}`, false,
			`{3,except,go1,<<"users_socket:7">>,#{'__struct__' => 'Elixir.Phoenix.Socket.Broadcast',event => <<"disconnect">>,payload => #{},topic => <<"users_socket:7">>},'Elixir.Phoenix.Channel.Server'}`, false},
		{go2, "room:1", "long", `{"text":"` + long + `"}`, false,
			`{3,except,go2@host,<<"room:1">>,#{'__struct__' => 'Elixir.Phoenix.Socket.Broadcast',event => <<"long">>,payload => #{<<"text">> => <<"` + long + `">>},topic => <<"room:1">>},'Elixir.Phoenix.Channel.Server'}`, true},
		{go1, "t:end", "end", `{}`, false,
			`{3,except,go1,<<"t:end">>,#{'__struct__' => 'Elixir.Phoenix.Socket.Broadcast',event => <<"end">>,payload => #{},topic => <<"t:end">>},'Elixir.Phoenix.Channel.Server'}`, false},
	}
	for _, s := range send {
		if err := s.node.Broadcast(&pubsub.Broadcast{Topic: s.topic, Event: s.event, Payload: []byte(s.payload), Binary: s.binary}); err != nil {
			t.Fatal(err)
		}
	}
	// One node's messages keep their order; go1's and go2's interleave.
	var got1, got2 []map[string]any
	for range 5 {
		l, ok := <-lines
		if !ok {
			t.Fatal("escript ended early")
		}
		if strings.HasPrefix(l["term"].(string), "{3,except,go2@host,") {
			got2 = append(got2, l)
		} else {
			got1 = append(got1, l)
		}
	}
	for _, s := range send {
		if s.term == "" {
			continue
		}
		got := &got1
		if s.node == go2 {
			got = &got2
		}
		if len(*got) == 0 {
			t.Errorf("Elixir side never got %s", s.term)
			continue
		}
		l := (*got)[0]
		*got = (*got)[1:]
		if l["term"] != s.term || l["compressed"] != s.compressed {
			t.Errorf("Elixir side decoded\n%v (compressed %v)\nwant\n%s (compressed %v)", l["term"], l["compressed"], s.term, s.compressed)
		}
	}
	// Each phxgo node got every room:1 broadcast once, presence_diff
	// included (through phxgo's own channels). Redis sent every message
	// of the Phoenix channel to all subscribers before "end", which the
	// escript saw last: once the nodes have "end", a duplicate would be
	// there too.
	for i, r := range []*rec{r1, r2} {
		r.waitFor(t, `{}`)
		r.waitFor(t, `{"text":"`+long+`"}`)
		r.waitFor(t, `{"joins":{},"leaves":{}}`)
		if got := r.payloads(); len(got) != 5 {
			t.Errorf("go%d got %d broadcasts, want 5 (4 on room:1, end): %q", i+1, len(got), got)
		}
	}
	if st := go1.Stats(); st.Published != 4 || st.Echoes != 4 || st.Received != 1 || st.Dropped != 0 {
		t.Errorf("go1 stats %+v", st)
	}
}
