package serializer

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Binary header bounds. A client push's header is a kind byte and four
// length bytes (join_ref, ref, topic, event), then the fields. A decoder
// whose length checks are off by one either refuses good frames or slices
// past the end of short ones; these tests pin both sides of each bound.

// binaryHeaderLen is the fixed part of a client binary push.
const binaryHeaderLen = 5

// shortBinaryFrames returns every frame of kind 0x00 shorter than the
// fixed header, plus the empty frame: lengths 0 to 4.
func shortBinaryFrames() [][]byte {
	var frames [][]byte
	for n := range binaryHeaderLen {
		frames = append(frames, make([]byte, n)) // kind 0x00, lengths 0
	}
	frames = append(frames, []byte("\x00\xff\xff\xff"), []byte("\x00\x01\x01\x01"))
	return frames
}

// boundaryFrame builds a push whose header field i (0 join_ref, 1 ref,
// 2 topic, 3 event) has length n and the others length 1, followed by
// payload; short cuts that many bytes off the end.
func boundaryFrame(i, n int, payload string, short int) []byte {
	lens := [4]int{1, 1, 1, 1}
	lens[i] = n
	frame := []byte{binPush, byte(lens[0]), byte(lens[1]), byte(lens[2]), byte(lens[3])}
	for f, l := range lens {
		frame = append(frame, strings.Repeat(string(rune('a'+f)), l)...)
	}
	frame = append(frame, payload...)
	return frame[:len(frame)-short]
}

// boundaryLengths are the field lengths worth testing: empty, one, and the
// largest a length byte can describe.
var boundaryLengths = []int{0, 1, 254, maxField}

// boundaryFrames returns, for every field at every boundary length, the
// exact frame, the frame one byte short, and the frame with a one-byte
// payload (for the fuzz seeds).
func boundaryFrames() [][]byte {
	var frames [][]byte
	for i := range 4 {
		for _, n := range boundaryLengths {
			frames = append(frames, boundaryFrame(i, n, "", 0), boundaryFrame(i, n, "", 1), boundaryFrame(i, n, "P", 0))
		}
	}
	return frames
}

// decodeNoPanic decodes a binary frame and turns a panic into a test failure
// that names the frame.
func decodeNoPanic(t *testing.T, frame []byte) (m Message, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("Decode(%x) panicked: %v", frame, r)
		}
	}()
	return Decode(V2, frame[:len(frame):len(frame)], true) // no spare capacity to read past the end into
}

func TestBinaryShortFrames(t *testing.T) {
	for _, frame := range shortBinaryFrames() {
		t.Run(fmt.Sprintf("%x", frame), func(t *testing.T) {
			m, err := decodeNoPanic(t, frame)
			if !errors.Is(err, ErrBadBinary) {
				t.Fatalf("decoded %s, %v; want ErrBadBinary", describe(m), err)
			}
			want := fmt.Sprintf("serializer: v2: binary frame: header needs 5 bytes, frame has %d", len(frame))
			if len(frame) == 0 {
				want = "serializer: v2: binary frame: empty frame"
			}
			if err.Error() != want {
				t.Fatalf("error %q, want %q", err, want)
			}
		})
	}
	// The smallest complete frame: five bytes, every field empty.
	m, err := decodeNoPanic(t, make([]byte, binaryHeaderLen))
	if err != nil || m.Topic != "" || m.Event != "" || m.JoinRef != nil || m.Ref != nil || len(m.Payload) != 0 {
		t.Fatalf("5-byte frame: %s, %v", describe(m), err)
	}
}

func TestBinaryFieldBoundaries(t *testing.T) {
	names := [4]string{"join_ref", "ref", "topic", "event"}
	for i, name := range names {
		for _, n := range boundaryLengths {
			t.Run(fmt.Sprintf("%s=%d", name, n), func(t *testing.T) {
				need := binaryHeaderLen + 3 + n
				// Exactly long enough: decodes, each field where it belongs.
				m, err := decodeNoPanic(t, boundaryFrame(i, n, "", 0))
				if err != nil {
					t.Fatalf("exact frame: %v", err)
				}
				got := [4]string{textRef(t, m.JoinRef), textRef(t, m.Ref), m.Topic, m.Event}
				for f := range 4 {
					l := 1
					if f == i {
						l = n
					}
					if want := strings.Repeat(string(rune('a'+f)), l); got[f] != want {
						t.Fatalf("%s = %q, want %d bytes of %c", names[f], got[f], l, 'a'+f)
					}
				}
				if len(m.Payload) != 0 {
					t.Fatalf("payload %q, want empty", m.Payload)
				}
				// One byte more is payload.
				if m, err = decodeNoPanic(t, boundaryFrame(i, n, "P", 0)); err != nil || string(m.Payload) != "P" {
					t.Fatalf("with payload: %s, %v", describe(m), err)
				}
				// One byte short: refused, never sliced past the end.
				m, err = decodeNoPanic(t, boundaryFrame(i, n, "", 1))
				want := fmt.Sprintf("serializer: v2: binary frame: header fields need %d bytes, frame has %d", need, need-1)
				if err == nil || !errors.Is(err, ErrBadBinary) || err.Error() != want {
					t.Fatalf("one byte short: %s, %v; want %q", describe(m), err, want)
				}
			})
		}
	}
}

// TestBinaryAllFieldsAtLimit fills every field to 255 bytes, the largest
// header a client can send.
func TestBinaryAllFieldsAtLimit(t *testing.T) {
	frame := []byte{binPush, maxField, maxField, maxField, maxField}
	frame = append(frame, strings.Repeat("x", 4*maxField)...)
	m, err := decodeNoPanic(t, frame)
	if err != nil || len(m.Topic) != maxField || len(m.Event) != maxField || len(m.Payload) != 0 {
		t.Fatalf("%s, %v", describe(m), err)
	}
	if _, err = decodeNoPanic(t, frame[:len(frame)-1]); !errors.Is(err, ErrBadBinary) {
		t.Fatalf("one byte short: %v", err)
	}
}

// TestServerBinaryBoundaries does the same for DecodeServer, over the three
// server kinds and their header sizes: every frame shorter than the header,
// and every field at its boundary lengths, exact and one byte short.
func TestServerBinaryBoundaries(t *testing.T) {
	decode := func(t *testing.T, frame []byte) (m Message, err error) {
		t.Helper()
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("DecodeServer(%x) panicked: %v", frame, r)
			}
		}()
		return DecodeServer(V2, frame[:len(frame):len(frame)], true)
	}
	for _, k := range []struct {
		kind   byte
		fields int
	}{{binPush, 3}, {binReply, 4}, {binBroadcast, 2}} {
		for n := 1; n <= k.fields; n++ { // kind byte plus fewer length bytes than the kind has
			frame := append([]byte{k.kind}, make([]byte, n-1)...)
			if _, err := decode(t, frame); !errors.Is(err, ErrBadBinary) {
				t.Fatalf("kind %d, %d bytes: %v", k.kind, n, err)
			}
		}
		for i := range k.fields {
			for _, n := range boundaryLengths {
				frame := []byte{k.kind}
				total := 1 + k.fields
				for f := range k.fields {
					l := 1
					if f == i {
						l = n
					}
					frame = append(frame, byte(l))
					total += l
				}
				frame = append(frame, strings.Repeat("v", total-len(frame))...)
				if m, err := decode(t, frame); err != nil || len(m.Payload) != 0 {
					t.Fatalf("kind %d field %d = %d, exact: %s, %v", k.kind, i, n, describe(m), err)
				}
				want := fmt.Sprintf("serializer: v2: binary frame: header fields need %d bytes, frame has %d", total, total-1)
				if _, err := decode(t, frame[:total-1]); err == nil || err.Error() != want {
					t.Fatalf("kind %d field %d = %d, one short: %v, want %q", k.kind, i, n, err, want)
				}
			}
		}
	}
}
