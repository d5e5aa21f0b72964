package phxredis

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestNewClient(t *testing.T) {
	c, err := NewClient("redis://:secret@127.0.0.1:6390/2", false)
	if err != nil {
		t.Fatal(err)
	}
	one, ok := c.(*redis.Client)
	if !ok || one.Options().Addr != "127.0.0.1:6390" || one.Options().DB != 2 || one.Options().Password != "secret" {
		t.Fatalf("got %T %+v", c, c)
	}
	_ = c.Close()

	c, err = NewClient("rediss://127.0.0.1:6390", false)
	if err != nil {
		t.Fatal(err)
	}
	if c.(*redis.Client).Options().TLSConfig == nil {
		t.Fatal("rediss:// without TLS")
	}
	_ = c.Close()

	for _, tc := range []struct {
		url     string
		cluster bool
		addrs   int
	}{
		{"redis://127.0.0.1:7000?addr=127.0.0.1:7001&addr=127.0.0.1:7002", false, 3},
		{"redis://127.0.0.1:7000", true, 1},
	} {
		c, err := NewClient(tc.url, tc.cluster)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		cc, ok := c.(*redis.ClusterClient)
		if !ok || len(cc.Options().Addrs) != tc.addrs {
			t.Fatalf("%s: got %T", tc.url, c)
		}
		_ = c.Close()
	}
}

func TestNewClientErrors(t *testing.T) {
	for url, want := range map[string]string{
		"":                               "empty Redis URL",
		"http://127.0.0.1:6379":          `scheme "http"`,
		"127.0.0.1:6379":                 "scheme",
		"redis://":                       "names no host",
		"redis://127.0.0.1:6379/notadb":  "bad Redis URL",
		"redis://u:hunter2@h:1/x":        "bad Redis URL",
		"redis://h:1?addr=h:2&db=1":      "bad Redis Cluster URL",
		"redis://127.0.0.1:6379?bogus=1": "bad Redis URL",
		"redis://h:1/%zz":                "bad Redis URL",
	} {
		_, err := NewClient(url, false)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NewClient(%q) = %v, want an error with %q", url, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("NewClient(%q): the error shows the password: %v", url, err)
		}
	}
}
