package presence_test

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/phxgo/phxgo/phx"
	"github.com/phxgo/phxgo/phx/presence"
)

// The usual Phoenix Presence pattern: the channel tracks its user once
// the join has completed (AfterJoin, Phoenix's send(self(), :after_join)),
// then pushes presence_state to the joiner; members get the join in a
// presence_diff. The presence leaves by itself when the channel ends.
func Example() {
	srv := phx.NewServer(phx.Config{
		Connect: func(_ context.Context, c *phx.ConnectInfo) (phx.Assigns, error) {
			return phx.NewAssigns("user_id", c.Params.Get("user_id")), nil
		},
	})
	pres, err := presence.New(srv, presence.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer pres.Close()

	srv.Channel("room:*", channelFuncs{
		join: func(c *phx.Channel, _ phx.Payload) (any, error) {
			// Too early to track: the join is still in flight
			// (Track would return presence.ErrNotJoined).
			return nil, nil
		},
		afterJoin: func(c *phx.Channel) {
			uid := c.Assigns().String("user_id")
			meta := map[string]any{"online_at": time.Now().UnixMilli()}
			if err := pres.Track(c, uid, meta); err != nil {
				log.Print("track: ", err)
				return
			}
			if err := pres.PushState(c); err != nil {
				log.Print("presence_state: ", err)
			}
		},
	})
}

// channelFuncs makes a phx.ChannelHandler (with AfterJoin) of functions.
type channelFuncs struct {
	join      func(c *phx.Channel, payload phx.Payload) (any, error)
	afterJoin func(c *phx.Channel)
}

func (f channelFuncs) Join(c *phx.Channel, p phx.Payload) (any, error) { return f.join(c, p) }
func (f channelFuncs) AfterJoin(c *phx.Channel)                        { f.afterJoin(c) }
func (f channelFuncs) HandleIn(*phx.Channel, *phx.InMessage) (any, error) {
	return nil, phx.ErrorReply(phx.Reason("unknown event"))
}

// A whole server: sockets authenticated by a token, a room channel whose
// members are tracked in Presence, WebSocket and LongPoll on the event
// loop, and the app's other routes on its own mux.
func Example_server() {
	srv := phx.NewServer(phx.Config{
		Connect: func(ctx context.Context, c *phx.ConnectInfo) (phx.Assigns, error) {
			uid, err := verifyToken(c.Params.Get("token"))
			if err != nil {
				return phx.Assigns{}, &phx.ConnectError{Code: phx.CloseUnauthorized, Reason: "unauthorized",
					Payload: phx.Reason("unauthorized"), Err: err}
			}
			return phx.NewAssigns("user_id", uid), nil
		},
		ID: func(s *phx.Socket) string { return "users_socket:" + s.Assigns.String("user_id") },
	})
	pres, err := presence.New(srv, presence.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer pres.Close() // after the server has shut down
	srv.Channel("room:*", roomChannel{presence: pres})

	mux := http.NewServeMux()
	mux.Handle("GET /", http.FileServer(http.Dir("static")))
	ln, err := net.Listen("tcp", ":4000")
	if err != nil {
		log.Fatal(err)
	}
	// WebSocket upgrades on the event loop; /socket/longpoll is served by
	// srv too; every other path goes to mux.
	log.Fatal(srv.Serve(ln, mux))
}

// verifyToken stands for the app's own token check (a signed token, a
// session lookup, …); it returns the user id.
func verifyToken(token string) (string, error) {
	if uid, ok := strings.CutPrefix(token, "user:"); ok && uid != "" {
		return uid, nil
	}
	return "", errors.New("bad token")
}

// roomChannel serves room:*: anyone may join; members are tracked in
// Presence and may broadcast "shout" to the room.
type roomChannel struct{ presence *presence.Presence }

func (roomChannel) Join(*phx.Channel, phx.Payload) (any, error) { return nil, nil }

func (rc roomChannel) AfterJoin(c *phx.Channel) {
	meta := map[string]any{"online_at": time.Now().UnixMilli()}
	if err := rc.presence.Track(c, c.Assigns().String("user_id"), meta); err == nil {
		_ = rc.presence.PushState(c)
	}
}

func (roomChannel) HandleIn(c *phx.Channel, msg *phx.InMessage) (any, error) {
	if msg.Event == "shout" {
		return phx.Empty, c.Broadcast("shout", msg.Payload)
	}
	return nil, phx.ErrorReply(phx.Reason("unknown event"))
}
