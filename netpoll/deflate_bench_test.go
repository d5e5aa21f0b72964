package netpoll

import (
	"strings"
	"testing"
)

// deflateSamples are V2 frames of the sizes a chat app sends: a short
// broadcast, a reply, a chat line, a presence diff, and the presence_state
// of a 50-member room.
var deflateSamples = map[string]string{
	"shout_46B": `[null,null,"room:lobby","shout",{"body":"hi"}]`,
	"reply_64B": `["1","2","room:lobby","phx_reply",{"status":"ok","response":{}}]`,
	"chat_160B": `[null,null,"room:lobby","new_msg",{"user":"alice","body":"hello everyone, how is it going today? I was thinking we could meet at the cafe","ts":1733477000123}]`,
	"diff_205B": `[null,null,"room:lobby","presence_diff",{"joins":{"user:42":{"metas":[{"phx_ref":"F_abc123","online_at":1733477000123}]}},"leaves":{"user:17":{"metas":[{"phx_ref":"F_xyz789","online_at":1733476000000}]}}}]`,
	"state_50": `[null,null,"room:lobby","presence_state",{` + strings.TrimSuffix(strings.Repeat(
		`"user:1234":{"metas":[{"phx_ref":"F_abc123XYZ","online_at":1733477000123,"status":"online"}]},`, 50), ",") + `}]`,
}

// BenchmarkDeflate is the cost of compressing one message (a reply or
// push; a broadcast pays it once for all subscribers) at the default
// level, with the compressed/plain size ratio.
func BenchmarkDeflate(b *testing.B) {
	for name, s := range deflateSamples {
		p := []byte(s)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(p)))
			var z []byte
			for range b.N {
				z = Deflate(p, 0)
			}
			b.ReportMetric(float64(len(z))/float64(len(p)), "ratio")
		})
	}
}

// BenchmarkInflate is the cost of inflating one client message with a
// pooled inflater.
func BenchmarkInflate(b *testing.B) {
	for name, s := range deflateSamples {
		z := Deflate([]byte(s), 0)
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(s)))
			for range b.N {
				if _, err := inflate(z, 1<<20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
