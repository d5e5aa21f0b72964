package compat_test

// A mixed cluster, end to end: two phxd processes with -phoenix-pubsub on
// one private Redis, real phoenix.js clients on them (js/cluster.js), and
// phx/phxredis's Erlang escript standing in for an Elixir node on
// phoenix_pubsub_redis (it writes and reads the channel with the real
// term_to_binary and binary_to_term).

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

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

func TestMixedElixirCluster(t *testing.T) {
	t.Parallel()
	redis := redistest.NewServer(t)
	port := strconv.Itoa(redis.Port)
	channel := phxredis.PhoenixChannel("MyApp.PubSub")
	prefix := uniq("m")
	nodes := startNodes(t, 2, prefix, redis.URL(), "-phoenix-pubsub", "MyApp.PubSub")
	d := startDriver(t)
	room := "room:" + uniq("mx")
	a, b := uniq("ma"), uniq("mb")
	d.open(a, nodes[0], a, room)
	d.open(b, nodes[1], b, room)
	// Presence works among the phxd nodes.
	d.waitPresence("both clients list both users", []string{a, b}, a, b)

	// It hears the two escript broadcasts below, the chat, the API
	// broadcast and the kick.
	elixir := elixirPeer(t, "subscribe", port, channel, "5")
	if l := <-elixir; l["ready"] != true {
		t.Fatalf("escript: %v", l)
	}
	// next is the next term a phxd node published.
	next := func(what string) string {
		t.Helper()
		for {
			select {
			case l, ok := <-elixir:
				term, _ := l["term"].(string)
				if !ok {
					t.Fatalf("the escript ended before %s", what)
				}
				if !strings.HasPrefix(term, "{3,except,'ex1@127.0.0.1',") {
					return term
				}
			case <-time.After(clusterWait):
				t.Fatalf("%s never reached the Elixir side", what)
			}
		}
	}

	// Elixir's Endpoint.broadcast reaches the clients of both nodes, once.
	if l := <-elixirPeer(t, "broadcast", port, channel, room, "new_msg"); l["receivers"] != 3.0 {
		t.Fatalf("PUBLISH reached %v subscribers, want 3 (two phxd, the escript)", l["receivers"])
	}
	d.waitMsg([]string{a, b}, "new_msg", `"body":"from elixir"`)
	// phxd's chat reaches the other phxd node and the Elixir side. Redis
	// sends a channel's messages in order: once both clients have the
	// chat, a duplicate of the Elixir broadcast would be there too.
	chatAcross(d, a, "from go", []string{a, b})
	for _, id := range []string{a, b} {
		n := 0
		for _, e := range d.events() {
			if e.ID == id && e.Ev == "msg" && strings.Contains(string(e.Payload), `"body":"from elixir"`) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s got the Elixir broadcast %d times, want once", id, n)
		}
	}
	want := `{3,except,` + prefix + `0,<<"` + room + `">>,#{'__struct__' => 'Elixir.Phoenix.Socket.Broadcast',event => <<"new_msg">>,payload => #{<<"body">> => <<"from go">>,<<"user">> => <<"` + a + `">>},topic => <<"` + room + `">>},'Elixir.Phoenix.Channel.Server'}`
	if got := next("the chat"); got != want {
		t.Errorf("the Elixir side decoded\n%s\nwant\n%s", got, want)
	}

	// POST /api/broadcast on a phxd node reaches both nodes' clients and
	// the Elixir side.
	body := fmt.Sprintf(`{"topic":%q,"event":"announcement","payload":{"text":"api to all"}}`, room)
	if resp, rb := postBroadcast(t, nodes[1], body); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /api/broadcast: %d %s, want 202", resp.StatusCode, rb)
	}
	d.waitMsg([]string{a, b}, "announcement", `"text":"api to all"`)
	api := `{3,except,` + prefix + `1,<<"` + room + `">>,#{'__struct__' => 'Elixir.Phoenix.Socket.Broadcast',event => <<"announcement">>,payload => #{<<"text">> => <<"api to all">>},topic => <<"` + room + `">>},'Elixir.Phoenix.Channel.Server'}`
	if got := next("the API broadcast"); got != api {
		t.Errorf("the Elixir side decoded\n%s\nwant\n%s", got, api)
	}

	// An Elixir disconnect on users_socket:<id> closes that user's socket
	// with 1001; phxd's kick_me reaches the Elixir side.
	from := len(d.events())
	<-elixirPeer(t, "broadcast", port, channel, "users_socket:"+b, "disconnect")
	d.wait(b+"'s socket closed with 1001", func(evs []clientEv) bool {
		for _, e := range evs[from:] {
			if e.ID == b && e.Ev == "close" && e.Code == 1001 {
				return true
			}
		}
		return false
	})
	d.stop(b)
	if st := d.reply(d.push(a, "kick_me", nil)); st != "ok" {
		t.Fatalf("kick_me: reply %s", st)
	}
	kick := `{3,except,` + prefix + `0,<<"users_socket:` + a + `">>,#{'__struct__' => 'Elixir.Phoenix.Socket.Broadcast',event => <<"disconnect">>,payload => #{},topic => <<"users_socket:` + a + `">>},'Elixir.Phoenix.Channel.Server'}`
	if got := next("kick_me's disconnect"); got != kick {
		t.Errorf("the Elixir side decoded\n%s\nwant\n%s", got, kick)
	}
	d.stop(a)
}
