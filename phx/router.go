package phx

import (
	"fmt"
	"strings"
)

// route binds a topic pattern to a handler. A pattern is either an exact
// topic ("room:lobby") or a prefix followed by one trailing "*"
// ("room:*"), as in Phoenix's `channel "room:*", RoomChannel`.
type route struct {
	pattern string
	prefix  string
	exact   bool
	handler ChannelHandler
	// intercepts lists the events the handler rewrites per instance.
	intercepts map[string]bool
}

// router matches topics against routes in registration order; the first
// match wins, as in Phoenix.
type router struct {
	routes []route
}

func (r *router) add(pattern string, h ChannelHandler) error {
	if pattern == "" || h == nil {
		return fmt.Errorf("%w: %q", ErrBadPattern, pattern)
	}
	rt := route{pattern: pattern, handler: h}
	star := strings.IndexByte(pattern, '*')
	switch {
	case star < 0:
		rt.exact = true
	case star == len(pattern)-1:
		rt.prefix = pattern[:star]
	default:
		return fmt.Errorf("%w: %q: '*' may only end a pattern", ErrBadPattern, pattern)
	}
	if ic, ok := h.(Interceptor); ok {
		rt.intercepts = make(map[string]bool)
		for _, ev := range ic.Intercepts() {
			rt.intercepts[ev] = true
		}
	}
	r.routes = append(r.routes, rt)
	return nil
}

func (r *router) match(topic string) *route {
	for i := range r.routes {
		rt := &r.routes[i]
		if rt.exact {
			if topic == rt.pattern {
				return rt
			}
		} else if strings.HasPrefix(topic, rt.prefix) {
			return rt
		}
	}
	return nil
}
