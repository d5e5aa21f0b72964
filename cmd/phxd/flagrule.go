package main

import (
	"flag"
	"fmt"
	"time"
)

// phxd's numeric flags follow phx.Config's rule: 0 means the default (the
// value -help shows), a negative value turns the setting off. A setting
// that cannot be turned off refuses a negative value, so that a typo never
// silently becomes a default.

// offFlags are the flags a negative value turns off; the flag's help says
// what off means.
var offFlags = map[string]bool{
	"join-deadline":    true, // no deadline to join a first channel
	"reject-brake":     true, // no reconnect brake
	"idle-timeout":     true, // idle sockets stay open
	"presence-window":  true, // one presence_diff per change
	"mem-release":      true, // never hands memory back on its own
	"mem-release-min":  true, // no minimum
	"drain-timeout":    true, // shutdown waits for every socket
	"max-conns-per-ip": true, // no per-address cap (also the default)
	"conn-rate-per-ip": true, // no per-address rate (also the default)
}

// applyFlagRule sets every numeric flag given as 0 to its default and
// refuses a negative value where the setting cannot be turned off. It runs
// after fs.Parse, on the flags the command line set.
func applyFlagRule(fs *flag.FlagSet) error {
	var err error
	fs.Visit(func(f *flag.Flag) {
		sign, ok := numericSign(f.Value)
		switch {
		case err != nil || !ok:
		case sign == 0:
			err = f.Value.Set(f.DefValue)
		case sign < 0 && !offFlags[f.Name]:
			err = fmt.Errorf("-%s cannot be turned off: give a positive value, or 0 for the default (%s)", f.Name, f.DefValue)
		}
	})
	return err
}

// numericSign is -1, 0 or 1 for a numeric or duration flag value; ok is
// false for other flags.
func numericSign(v flag.Value) (sign int, ok bool) {
	g, ok := v.(flag.Getter)
	if !ok {
		return 0, false
	}
	var x float64
	switch n := g.Get().(type) {
	case time.Duration:
		x = float64(n)
	case int:
		x = float64(n)
	case int64:
		x = float64(n)
	case uint64:
		x = float64(n)
	case float64:
		x = n
	default:
		return 0, false
	}
	switch {
	case x < 0:
		return -1, true
	case x > 0:
		return 1, true
	}
	return 0, true
}
