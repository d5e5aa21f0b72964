package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
)

// checkClusterFlags checks the flags of a node that shares Redis with
// others (-redis and the flags that go with it).
func checkClusterFlags(o *options) error {
	if o.redisCluster && o.redisURL == "" {
		return errors.New("-redis-cluster needs -redis URL")
	}
	if o.redisURL != "" {
		u, err := url.Parse(o.redisURL)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			return fmt.Errorf("-redis must be a URL like redis://HOST:PORT/DB, got %q", o.redisURL)
		}
	}
	if o.presenceNodeT == 0 {
		o.presenceNodeT = 5 * o.presenceBeat
	}
	if o.presenceNodeT <= o.presenceBeat {
		return fmt.Errorf("-presence-node-timeout (%v) must be longer than -presence-heartbeat (%v), or live nodes are taken for dead",
			o.presenceNodeT, o.presenceBeat)
	}
	return nil
}

// defaultNode is a node name no other running process has:
// hostname-pid-random (the form presence.Config uses by default).
func defaultNode() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "node"
	}
	var r [4]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(r[:]))
}

// redactURL is a -redis URL fit for the log: without its password.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
