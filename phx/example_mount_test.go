package phx_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"

	"github.com/phxgo/phxgo/phx"
)

// echoRoom accepts every join and answers each event with its payload.
type echoRoom struct{}

func (echoRoom) Join(*phx.Channel, phx.Payload) (any, error) { return nil, nil }

func (echoRoom) HandleIn(_ *phx.Channel, msg *phx.InMessage) (any, error) {
	return msg.Payload, nil
}

// ExampleServer_ServeHTTP mounts the socket in an existing net/http server,
// beside the application's own routes, instead of letting Serve own the
// listener. ServeHTTP matches the whole request path, so mount the Server
// at Config.Path + "/" (Path is "/socket" by default) without
// http.StripPrefix: it answers Path+"/websocket" and Path+"/longpoll".
// A WebSocket upgrade is taken over from net/http (hijacked) and runs on
// the Server's event loop like one accepted by Serve; LongPoll requests
// are served in place, by the http.Server's goroutines.
func ExampleServer_ServeHTTP() {
	srv := phx.NewServer(phx.Config{Path: "/socket"})
	srv.Channel("room:*", echoRoom{})

	mux := http.NewServeMux()
	mux.Handle("/socket/", srv) // /socket/websocket and /socket/longpoll
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	go func() { _ = hs.Serve(ln) }()
	defer srv.Close() // drops the sockets net/http handed over
	defer hs.Close()

	// A client, as phoenix.js would connect to ws://host/socket: join a
	// room, push an event, read the replies.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, _, err := ws.Dial(ctx, "ws://"+ln.Addr().String()+"/socket/websocket?vsn=2.0.0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	for _, frame := range []string{
		`["1","1","room:lobby","phx_join",{}]`,
		`["1","2","room:lobby","hello",{"from":"net/http"}]`,
	} {
		if err := wsutil.WriteClientText(conn, []byte(frame)); err != nil {
			fmt.Println(err)
			return
		}
		reply, err := wsutil.ReadServerText(conn)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(string(reply))
	}
	// Output:
	// ["1","1","room:lobby","phx_reply",{"response":{},"status":"ok"}]
	// ["1","2","room:lobby","phx_reply",{"response":{"from":"net/http"},"status":"ok"}]
}
