package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestClusterFlags: -redis and its companions parse, and the combinations
// that cannot work are refused naming the flag.
func TestClusterFlags(t *testing.T) {
	o, err := parseFlags(nil, io.Discard)
	if err != nil || o.redisURL != "" || o.redisCluster || o.node != "" ||
		o.presenceBeat != 2*time.Second || o.presenceNodeT != 10*time.Second {
		t.Fatalf("defaults: %+v, %v", o, err)
	}
	o, err = parseFlags([]string{"-redis", "redis://127.0.0.1:6379/2", "-redis-cluster", "-node", "n1",
		"-presence-heartbeat", "100ms", "-presence-node-timeout", "1s"}, io.Discard)
	if err != nil || o.redisURL != "redis://127.0.0.1:6379/2" || !o.redisCluster || o.node != "n1" ||
		o.presenceBeat != 100*time.Millisecond || o.presenceNodeT != time.Second {
		t.Fatalf("set: %+v, %v", o, err)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"-redis-cluster"}, "-redis-cluster needs -redis"},
		{[]string{"-redis", "127.0.0.1:6379"}, "-redis must be a URL"},
		{[]string{"-redis", "http://127.0.0.1:6379"}, "-redis must be a URL"},
		{[]string{"-presence-heartbeat", "3s", "-presence-node-timeout", "3s"}, "-presence-node-timeout (3s) must be longer"},
		{[]string{"-presence-heartbeat", "1s", "-presence-node-timeout", "500ms"}, "must be longer"},
		{[]string{"-presence-heartbeat", "-1s"}, "-presence-heartbeat cannot be turned off"},
		{[]string{"-presence-node-timeout", "-1s"}, "-presence-node-timeout cannot be turned off"},
	} {
		if _, err := parseFlags(bad.args, io.Discard); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%v: %v, want an error with %q", bad.args, err, bad.want)
		}
	}
	if o, err := parseFlags([]string{"-presence-heartbeat", "300ms"}, io.Discard); err != nil || o.presenceNodeT != 1500*time.Millisecond {
		t.Errorf("-presence-heartbeat 300ms: node timeout %v, %v; want five intervals", o.presenceNodeT, err)
	}
	a, b := defaultNode(), defaultNode()
	if a == b || !strings.Contains(a, "-") {
		t.Errorf("default node names %q and %q: want distinct hostname-pid-random names", a, b)
	}
}

func TestRedactURL(t *testing.T) {
	if got := redactURL("redis://user:secret@127.0.0.1:6379/0"); strings.Contains(got, "secret") {
		t.Errorf("redactURL kept the password: %s", got)
	}
}
