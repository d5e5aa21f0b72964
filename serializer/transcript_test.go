package serializer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
)

// Transcripts recorded from a real Phoenix 1.7.21 server
// (testdata/serializer/phoenix-transcripts, unchanged since they were
// recorded). Every text frame in them is
// checked: client frames must decode to what encoding/json reads from them,
// and server frames must be reproduced byte for byte by Encode from the
// Message they carry. Binary frames are checked by reference.txt, which must
// hold each of them.

var (
	// [   11ms] A << TXT [...]   (V2, phoenix.js client)
	v2Line = regexp.MustCompile(`^\[\s*\d+ms\] \S+ (>>|<<) (TXT|BIN) (.+)$`)
	// vsn=1.0.0&token=user:carol << {...}   (V1, raw WebSocket client)
	v1Line = regexp.MustCompile(`^\S+ << (\{.+\})$`)
)

type recordedFrame struct {
	where    string
	vsn      Version
	toServer bool
	binary   bool
	frame    []byte
}

func readTranscripts(t *testing.T) []recordedFrame {
	paths, err := filepath.Glob("../testdata/serializer/phoenix-transcripts/*.txt")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	var frames []recordedFrame
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			where := filepath.Base(p) + ":" + strconv.Itoa(n)
			if m := v2Line.FindStringSubmatch(sc.Text()); m != nil {
				rf := recordedFrame{where: where, vsn: V2, toServer: m[1] == ">>", binary: m[2] == "BIN", frame: []byte(m[3])}
				if rf.binary {
					rf.frame = mustHex(t, m[3])
				}
				frames = append(frames, rf)
			} else if m := v1Line.FindStringSubmatch(sc.Text()); m != nil {
				frames = append(frames, recordedFrame{where: where, vsn: V1, frame: []byte(m[1])})
			}
		}
		f.Close()
	}
	return frames
}

func TestTranscripts(t *testing.T) {
	frames := readTranscripts(t)
	var refHex [][]byte
	for _, c := range readCases(t, referencePath) {
		if c.binary() {
			refHex = append(refHex, c.frame(t))
		}
	}
	counts := map[string]int{}
	for _, f := range frames {
		switch {
		case f.binary:
			counts["binary"]++
			if !containsFrame(refHex, f.frame) {
				t.Errorf("%s: binary frame %x is missing from reference.txt", f.where, f.frame)
			}
		case f.toServer:
			counts["client text"]++
			checkRecordedClientFrame(t, f)
		default:
			counts["server text"]++
			checkRecordedServerFrame(t, f)
		}
	}
	t.Logf("checked %v", counts)
	if counts["client text"] < 20 || counts["server text"] < 40 || counts["binary"] != 3 {
		t.Errorf("transcripts parsed too few frames: %v", counts)
	}
}

func containsFrame(list [][]byte, f []byte) bool {
	for _, l := range list {
		if bytes.Equal(l, f) {
			return true
		}
	}
	return false
}

// checkRecordedClientFrame decodes a client's V2 frame and compares it with
// what encoding/json reads.
func checkRecordedClientFrame(t *testing.T, f recordedFrame) {
	var parts []json.RawMessage
	if err := json.Unmarshal(f.frame, &parts); err != nil || len(parts) != 5 {
		t.Fatalf("%s: not a 5-element array: %v", f.where, err)
	}
	want := Message{Kind: KindPush, JoinRef: rawRef(string(parts[0])), Ref: rawRef(string(parts[1])), Payload: parts[4]}
	mustJSON(t, parts[2], &want.Topic)
	mustJSON(t, parts[3], &want.Event)
	got, err := Decode(V2, f.frame, false)
	if err != nil || !sameMessage(got, want) {
		t.Errorf("%s: Decode(%s) =\n %s, %v\nwant %s", f.where, f.frame, describe(got), err, describe(want))
	}
}

// checkRecordedServerFrame builds the Message a server frame carries and
// encodes it again, expecting the recorded bytes.
func checkRecordedServerFrame(t *testing.T, f recordedFrame) {
	var m Message
	var event string
	var payload json.RawMessage
	if f.vsn == V2 {
		var parts []json.RawMessage
		if err := json.Unmarshal(f.frame, &parts); err != nil || len(parts) != 5 {
			t.Fatalf("%s: not a 5-element array: %v", f.where, err)
		}
		m.JoinRef, m.Ref, payload = rawRef(string(parts[0])), rawRef(string(parts[1])), parts[4]
		mustJSON(t, parts[2], &m.Topic)
		mustJSON(t, parts[3], &event)
	} else {
		var obj map[string]json.RawMessage
		mustJSON(t, f.frame, &obj)
		m.Ref, payload = rawRef(string(obj["ref"])), obj["payload"]
		mustJSON(t, obj["topic"], &m.Topic)
		mustJSON(t, obj["event"], &event)
	}
	switch {
	case event == EventReply:
		var reply struct {
			Response json.RawMessage `json:"response"`
			Status   string          `json:"status"`
		}
		mustJSON(t, payload, &reply)
		m.Kind, m.Payload, m.Status = KindReply, reply.Response, reply.Status
	case m.JoinRef == nil && m.Ref == nil:
		m.Kind, m.Event, m.Payload = KindBroadcast, event, payload
	default:
		m.Kind, m.Event, m.Payload = KindPush, event, payload
	}
	got, _, err := Encode(f.vsn, nil, &m)
	if err != nil || !bytes.Equal(got, f.frame) {
		t.Errorf("%s: Encode(%s) =\n %s, %v\nwant %s", f.where, describe(m), got, err, f.frame)
	}
	if d, err := DecodeServer(f.vsn, f.frame, false); err != nil || !sameMessage(d, m) {
		t.Errorf("%s: DecodeServer(%s) =\n %s, %v\nwant %s", f.where, f.frame, describe(d), err, describe(m))
	}
}

func mustJSON(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", data, err)
	}
}
