package redistest

import (
	"strings"
	"testing"
)

func TestServerStopRestart(t *testing.T) {
	s := NewServer(t)
	if out, err := s.Do("set", "k", "v"); err != nil || !strings.Contains(out, "OK") {
		t.Fatalf("set: %v %q", err, out)
	}
	s.Stop()
	if err := ping(s.Addr()); err == nil {
		t.Fatal("server still answers after Stop")
	}
	s.Restart()
	out, err := s.Do("get", "k")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(out) != "" {
		t.Fatalf("restarted server kept data: %q", out)
	}
}

func TestCluster(t *testing.T) {
	c := NewCluster(t, 3)
	out, err := c.Servers[0].Do("cluster", "info")
	if err != nil || !strings.Contains(out, "cluster_known_nodes:3") || !strings.Contains(out, "cluster_slots_assigned:16384") {
		t.Fatalf("cluster info: %v\n%s", err, out)
	}
	if !strings.HasPrefix(c.URL(), "redis://127.0.0.1:") || strings.Count(c.URL(), "addr=") != 2 {
		t.Fatalf("URL %q", c.URL())
	}
}
