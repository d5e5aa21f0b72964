package main

import (
	"net"
	"testing"
)

// TestDemoURL: the start-up log's link opens the demo page from this
// machine, whatever address phxd listens on.
func TestDemoURL(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:4000":  "http://127.0.0.1:4000/",
		"0.0.0.0:4000":    "http://127.0.0.1:4000/",
		"[::]:4000":       "http://127.0.0.1:4000/",
		"[::1]:8080":      "http://[::1]:8080/",
		"192.168.1.5:443": "http://192.168.1.5:443/",
	} {
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := demoURL(tcp); got != want {
			t.Errorf("demoURL(%s) = %s, want %s", addr, got, want)
		}
	}
}
