package main

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/phxgo/phxgo/phx/phxredis"
	"github.com/phxgo/phxgo/phx/phxredis/redistest"
)

// elixirPeer runs the stand-in for an Elixir node (redistest.PhoenixPeer)
// and returns its JSON lines.
func elixirPeer(t *testing.T, args ...string) <-chan map[string]any {
	t.Helper()
	lines, _ := redistest.PhoenixPeer(t, args...)
	return lines
}

// TestPhoenixPubSubFlag: with -phoenix-pubsub, an Elixir node's
// Endpoint.broadcast reaches a phxd client, a client's broadcast and
// kick_me's disconnect reach the Elixir side as Phoenix writes them
// (presence_diffs do not), and an Elixir disconnect on users_socket:<id>
// closes the phxd socket with 1001.
func TestPhoenixPubSubFlag(t *testing.T) {
	redis := redistest.NewServer(t)
	addr := startClusterNode(t, io.Discard, "-redis", redis.URL(), "-node", "go1", "-phoenix-pubsub", "MyApp.PubSub")
	channel := phxredis.PhoenixChannel("MyApp.PubSub")
	port := strconv.Itoa(redis.Port)

	// It hears the other escript's broadcast too, then phxd's two.
	elixir := elixirPeer(t, "subscribe", port, channel, "3")
	if l := <-elixir; l["ready"] != true {
		t.Fatalf("escript: %v", l)
	}
	conn, await, send := phxdClient(t, addr, "t")
	send(`["1","1","room:mix","phx_join",{}]`)
	await("the join reply", `"1","1","room:mix","phx_reply",{"response":{},"status":"ok"}`)

	// Elixir → phxd client.
	if l := <-elixirPeer(t, "broadcast", port, channel, "room:mix", "new_msg"); l["receivers"] != 2.0 {
		t.Fatalf("PUBLISH reached %v subscribers, want 2 (phxd, the escript)", l["receivers"])
	}
	await("the Elixir broadcast", `[null,null,"room:mix","new_msg",{"body":"from elixir","n":1}]`)

	// phxd client → Elixir: a channel broadcast, then kick_me's disconnect.
	send(`["1","2","room:mix","new_msg",{"body":"from go"}]`)
	await("its own broadcast", `"new_msg",{"body":"from go","user":"t"}`)
	send(`["1","3","room:mix","kick_me",{}]`)
	const head = `{3,except,go1,<<"`
	const tail = `},'Elixir.Phoenix.Channel.Server'}`
	for _, want := range []string{
		head + `room:mix">>,#{'__struct__' => 'Elixir.Phoenix.Socket.Broadcast',event => <<"new_msg">>,payload => #{<<"body">> => <<"from go">>,<<"user">> => <<"t">>},topic => <<"room:mix">>` + tail,
		head + `users_socket:t">>,#{'__struct__' => 'Elixir.Phoenix.Socket.Broadcast',event => <<"disconnect">>,payload => #{},topic => <<"users_socket:t">>` + tail,
	} {
		l, ok := <-elixir
		if term, _ := l["term"].(string); ok && strings.HasPrefix(term, `{3,except,'ex1@127.0.0.1',`) {
			l, ok = <-elixir
		}
		if !ok || l["term"] != want {
			t.Fatalf("the Elixir side decoded\n%v\nwant\n%s", l["term"], want)
		}
	}
	expectClose(t, conn, "kick_me")

	// Elixir disconnect → phxd socket closed with 1001.
	conn2, await2, send2 := phxdClient(t, addr, "u")
	send2(`["1","1","room:mix","phx_join",{}]`)
	await2("the join reply", `"phx_reply",{"response":{},"status":"ok"}`)
	<-elixirPeer(t, "broadcast", port, channel, "users_socket:u", "disconnect")
	expectClose(t, conn2, "the Elixir disconnect")
}

func phxdClient(t *testing.T, addr, user string) (net.Conn, func(what, fragment string), func(frame string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, _, err := ws.Dial(ctx, "ws://"+addr+"/socket/websocket?vsn=2.0.0&token=user:"+user)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	await := func(what, fragment string) {
		t.Helper()
		for {
			msg, err := wsutil.ReadServerText(conn)
			if err != nil {
				t.Fatalf("waiting for %s: %v", what, err)
			}
			if strings.Contains(string(msg), fragment) {
				return
			}
		}
	}
	send := func(frame string) {
		if err := wsutil.WriteClientText(conn, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	return conn, await, send
}

// expectClose reads until the server closes conn, which must be with 1001.
func expectClose(t *testing.T, conn net.Conn, what string) {
	t.Helper()
	for {
		_, err := wsutil.ReadServerText(conn)
		if err == nil {
			continue
		}
		var ce wsutil.ClosedError
		if !errors.As(err, &ce) || ce.Code != ws.StatusGoingAway {
			t.Fatalf("after %s: %v, want a close with 1001", what, err)
		}
		return
	}
}

func TestPhoenixPubSubFlagNeedsRedis(t *testing.T) {
	_, err := parseFlags([]string{"-phoenix-pubsub", "MyApp.PubSub"}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "-phoenix-pubsub needs -redis") {
		t.Fatalf("err %v", err)
	}
	o, err := parseFlags([]string{"-phoenix-pubsub", "MyApp.PubSub", "-redis", "redis://127.0.0.1:1/0"}, io.Discard)
	if err != nil || o.phoenixPubSub != "MyApp.PubSub" {
		t.Fatalf("%v %+v", err, o)
	}
}

func TestPhoenixCollector(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(phoenixCollectorOf(func() phxredis.PhoenixStats {
		return phxredis.PhoenixStats{Published: 1, PublishErrors: 2, PublishDropped: 3, Received: 4, Echoes: 5,
			NotForUs: 6, Unwatched: 7, Skipped: 8, Dropped: 9, Unencodable: 10}
	}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		got[mf.GetName()] = mf.GetMetric()[0].GetCounter().GetValue()
	}
	want := map[string]float64{"phxgo_phoenix_published_total": 1, "phxgo_phoenix_publish_errors_total": 5,
		"phxgo_phoenix_received_total": 4, "phxgo_phoenix_ignored_total": 11, "phxgo_phoenix_unwatched_total": 7,
		"phxgo_phoenix_skipped_total": 8, "phxgo_phoenix_dropped_total": 9, "phxgo_phoenix_unencodable_total": 10}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
