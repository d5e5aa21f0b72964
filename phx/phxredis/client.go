package phxredis

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// NewClient opens a go-redis client for url, a redis:// or rediss:// URL
// (rediss for TLS). It returns a *redis.Client for one server, or a
// *redis.ClusterClient when cluster is true or the URL names more nodes
// with addr= query parameters (redis://host1:6379?addr=host2:6379&addr=…).
// A cluster URL carries no database number. The client connects lazily:
// a server that is down makes no error here.
func NewClient(rawURL string, cluster bool) (redis.UniversalClient, error) {
	if rawURL == "" {
		return nil, errors.New("phxredis: empty Redis URL (want redis://host:port or rediss://host:port)")
	}
	if !strings.Contains(rawURL, "://") {
		return nil, errors.New("phxredis: Redis URL without a scheme (want redis://host:port or rediss://host:port)")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message would quote the URL, password included
		}
		return nil, fmt.Errorf("phxredis: bad Redis URL: %w", err)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("phxredis: Redis URL %q: scheme %q, want redis:// or rediss://", redact(u), u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("phxredis: Redis URL %q names no host", redact(u))
	}
	if cluster || u.Query().Has("addr") {
		opt, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("phxredis: bad Redis Cluster URL %q: %w", redact(u), err)
		}
		return redis.NewClusterClient(opt), nil
	}
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("phxredis: bad Redis URL %q: %w", redact(u), err)
	}
	return redis.NewClient(opt), nil
}

// redact is u for error messages, its password hidden.
func redact(u *url.URL) string { return u.Redacted() }
