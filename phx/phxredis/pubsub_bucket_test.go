package phxredis

import (
	"hash/fnv"
	"testing"
)

// TestBucketIsFNV1a: a topic's bucket (hence its channel name on a Redis
// Cluster) is FNV-1a mod Buckets, as hash/fnv computes it: every node, of
// any version, must name a topic's channel alike. Computing it allocates
// nothing.
func TestBucketIsFNV1a(t *testing.T) {
	p := &PubSub{sharded: true, buckets: 32}
	for _, topic := range []string{"", "room:lobby", "users_socket:42", "ünïcode:topic", string(make([]byte, 300))} {
		h := fnv.New32a()
		_, _ = h.Write([]byte(topic))
		if got, want := p.bucket(topic), int(h.Sum32()%32); got != want {
			t.Errorf("bucket(%q) = %d, hash/fnv says %d", topic, got, want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = p.bucket("room:lobby") }); n != 0 {
		t.Errorf("bucket allocates %v times", n)
	}
}
