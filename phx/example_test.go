package phx_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"

	"github.com/phxgo/phxgo/phx"
)

// room is a channel handler: joins are open, "shout" is broadcast to the
// topic and acknowledged.
type room struct{}

func (room) Join(c *phx.Channel, _ phx.Payload) (any, error) { return nil, nil }

func (room) HandleIn(c *phx.Channel, msg *phx.InMessage) (any, error) {
	switch msg.Event {
	case "shout":
		return phx.Empty, c.Broadcast("shout", msg.Payload)
	case "leave_me":
		return nil, phx.ErrStop // the client gets phx_close
	}
	return nil, phx.ErrorReply(phx.Reason("unknown event"))
}

// ExampleNewServer authenticates sockets with a token param, refusing bad
// ones with a reason the browser can read (close code 4401), and serves
// room:* channels beside an existing mux.
func ExampleNewServer() {
	srv := phx.NewServer(phx.Config{
		Connect: func(_ context.Context, c *phx.ConnectInfo) (phx.Assigns, error) {
			if c.Params.Get("token") != "secret" {
				return phx.Assigns{}, &phx.ConnectError{Code: phx.CloseUnauthorized, Reason: "unauthorized",
					Payload: phx.Reason("unauthorized"), Err: errors.New("bad token")}
			}
			return phx.NewAssigns("user_id", "42"), nil
		},
		ID: func(s *phx.Socket) string { return "users_socket:" + s.Assigns.String("user_id") },
	})
	srv.Channel("room:*", room{})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	go func() { _ = srv.Serve(ln, http.NotFoundHandler()) }()
	fmt.Println("socket at ws://" + ln.Addr().String() + "/socket/websocket")
}

// ExampleServer_Broadcast publishes to every subscriber of a topic, and
// closes every socket of a user with the "disconnect" broadcast.
func ExampleServer_Broadcast() {
	srv := phx.NewServer(phx.Config{})
	defer srv.Close()
	if err := srv.Broadcast("room:lobby", "new_msg", map[string]string{"body": "hi"}); err != nil {
		fmt.Println(err)
	}
	_ = srv.Broadcast("users_socket:42", "disconnect", nil)
	fmt.Println(srv.Broadcast("room:lobby", "bad", []int{1}))
	// Output: phx: push and broadcast payloads must be JSON objects
}
