package serializer_test

import (
	"errors"
	"fmt"

	"github.com/phxgo/phxgo/serializer"
)

func ExampleDecode() {
	frame := []byte(`["3","4","room:lobby","new_msg",{"body":"hi"}]`)
	m, err := serializer.Decode(serializer.V2, frame, false)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s %s join_ref=%s ref=%s payload=%s\n", m.Topic, m.Event, m.JoinRef, m.Ref, m.Payload)

	_, err = serializer.Decode(serializer.V2, []byte(`["3","4","room:lobby"]`), false)
	var de *serializer.DecodeError
	fmt.Println(err, errors.Is(err, serializer.ErrMalformed), errors.As(err, &de))
	// Output:
	// room:lobby new_msg join_ref="3" ref="4" payload={"body":"hi"}
	// serializer: v2: want 5 elements, got 3 true true
}

func ExampleEncode() {
	// Reply to the push above: refs are echoed exactly as received.
	reply := serializer.Message{
		Kind:    serializer.KindReply,
		JoinRef: []byte(`"3"`),
		Ref:     []byte(`"4"`),
		Topic:   "room:lobby",
		Status:  "ok",
		Payload: []byte(`{"id":17}`),
	}
	buf := make([]byte, 0, 256)
	for _, v := range []serializer.Version{serializer.V2, serializer.V1} {
		out, isBinary, err := serializer.Encode(v, buf[:0], &reply)
		if err != nil {
			panic(err)
		}
		fmt.Println(string(out), isBinary)
	}
	// Output:
	// ["3","4","room:lobby","phx_reply",{"response":{"id":17},"status":"ok"}] false
	// {"event":"phx_reply","payload":{"response":{"id":17},"status":"ok"},"ref":"4","topic":"room:lobby"} false
}

func ExampleEncode_binary() {
	push := serializer.Message{
		Kind:    serializer.KindPush,
		JoinRef: []byte(`"1"`),
		Topic:   "room:1",
		Event:   "badge",
		Payload: []byte{0xde, 0xad},
		Binary:  true,
	}
	out, isBinary, err := serializer.Encode(serializer.V2, nil, &push)
	fmt.Printf("% x %v %v\n", out, isBinary, err)
	// Output:
	// 00 01 06 05 31 72 6f 6f 6d 3a 31 62 61 64 67 65 de ad true <nil>
}

func ExampleCache() {
	c := serializer.NewCache(serializer.Message{
		Kind:    serializer.KindBroadcast,
		Topic:   "room:lobby",
		Event:   "new_msg",
		Payload: []byte(`{"body":"hi"}`),
	})
	// Each subscriber asks for its socket's version; each version is
	// encoded once, on first use.
	for _, v := range []serializer.Version{serializer.V2, serializer.V2, serializer.V1} {
		frame, _, _ := c.Encoded(v)
		fmt.Println(string(frame))
	}
	// Output:
	// [null,null,"room:lobby","new_msg",{"body":"hi"}]
	// [null,null,"room:lobby","new_msg",{"body":"hi"}]
	// {"event":"new_msg","payload":{"body":"hi"},"ref":null,"topic":"room:lobby"}
}

func ExampleParseVsn() {
	for _, vsn := range []string{"2.0.0", "", "1.0.0", "2.1.0"} {
		v, err := serializer.ParseVsn(vsn)
		fmt.Println(v, err)
	}
	// Output:
	// v2 <nil>
	// v1 <nil>
	// v1 <nil>
	// Version(0) serializer: vsn "2.1.0" matches neither ~> 1.0.0 nor ~> 2.0.0: serializer: unsupported vsn
}
