package main

import (
	"context"
	"flag"
	"io"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// TestFlagZeroMeansDefault: every numeric flag given as 0 gets the default
// -help shows, so the command line with all of them at 0 parses to the same
// options as no flags at all.
func TestFlagZeroMeansDefault(t *testing.T) {
	def, err := parseFlags(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	var zeros []string
	newFlagSet(&options{}, io.Discard).VisitAll(func(f *flag.Flag) {
		if _, ok := numericSign(f.Value); ok {
			zeros = append(zeros, "-"+f.Name+"=0")
		}
	})
	if len(zeros) < 20 {
		t.Fatalf("only %d numeric flags: %v", len(zeros), zeros)
	}
	got, err := parseFlags(zeros, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, def) {
		t.Fatalf("flags at 0: %+v\nwant the defaults: %+v", got, def)
	}
	if def.joinDeadline != 30*time.Second || def.rejectBrake != 10*time.Second || def.presenceWin != 50*time.Millisecond || def.memRelease != 30*time.Second {
		t.Fatalf("defaults: join %v brake %v presence %v mem-release %v", def.joinDeadline, def.rejectBrake, def.presenceWin, def.memRelease)
	}
}

// TestFlagNegative: a negative value turns a setting off where it can be
// off, and is refused where it cannot, naming the flag.
func TestFlagNegative(t *testing.T) {
	o, err := parseFlags([]string{"-join-deadline", "-1s", "-reject-brake=-1s", "-presence-window=-1ms",
		"-mem-release=-1s", "-idle-timeout=-1s", "-drain-timeout=-1s", "-max-conns-per-ip=-1", "-conn-rate-per-ip=-1", "-mem-release-min=-1"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.joinDeadline >= 0 || o.rejectBrake >= 0 || o.presenceWin >= 0 || o.memRelease >= 0 || o.idleTimeout >= 0 || o.drainTimeout >= 0 {
		t.Fatalf("negative values not kept: %+v", o)
	}
	fs := newFlagSet(&options{}, io.Discard)
	for name := range offFlags { // a renamed flag must not leave a stale entry behind
		if f := fs.Lookup(name); f == nil {
			t.Errorf("offFlags names -%s, which phxd does not have", name)
		} else if _, ok := numericSign(f.Value); !ok {
			t.Errorf("offFlags names -%s, which is not numeric", name)
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := numericSign(f.Value); !ok {
			return
		}
		value := "-1"
		if _, ok := f.Value.(flag.Getter).Get().(time.Duration); ok {
			value = "-1s"
		}
		_, err := parseFlags([]string{"-" + f.Name, value}, io.Discard)
		switch {
		case offFlags[f.Name] && err != nil:
			t.Errorf("-%s %s: %v, want it turned off", f.Name, value, err)
		case !offFlags[f.Name] && (err == nil || !strings.Contains(err.Error(), "-"+f.Name+" cannot be turned off")):
			t.Errorf("-%s %s: %v, want a refusal", f.Name, value, err)
		}
	})
}

// TestJoinDeadlineFlag: -join-deadline 0 is the 30s default, a negative
// value turns the deadline off; a positive one closes an idle socket with
// 4408 while a socket on a server without the deadline stays open.
func TestJoinDeadlineFlag(t *testing.T) {
	o, err := parseFlags([]string{"-join-deadline", "0"}, io.Discard)
	if err != nil || o.joinDeadline != 30*time.Second {
		t.Fatalf("-join-deadline 0: %v, %v; want the default 30s", o, err)
	}
	short := dialSocket(t, startPhxd(t, "-join-deadline", "200ms"))
	off := dialSocket(t, startPhxd(t, "-join-deadline", "-1s"))
	_ = short.SetReadDeadline(time.Now().Add(10 * time.Second))
	var closed wsutil.ClosedError
	for {
		msg, err := wsutil.ReadServerText(short)
		if err != nil {
			if !asClosed(err, &closed) || closed.Code != 4408 {
				t.Fatalf("short deadline: %v, want close 4408", err)
			}
			break
		}
		if !strings.Contains(string(msg), "join_timeout") {
			t.Fatalf("short deadline: unexpected frame %s", msg)
		}
	}
	// The deadline of the first server has passed; the second still answers.
	if err := wsutil.WriteClientText(off, []byte(`[null,"1","phoenix","heartbeat",{}]`)); err != nil {
		t.Fatal(err)
	}
	_ = off.SetReadDeadline(time.Now().Add(10 * time.Second))
	msg, err := wsutil.ReadServerText(off)
	if err != nil || !strings.Contains(string(msg), `"phx_reply"`) {
		t.Fatalf("-join-deadline -1s: %s, %v; want the heartbeat's reply", msg, err)
	}
}

func asClosed(err error, c *wsutil.ClosedError) bool {
	ce, ok := err.(wsutil.ClosedError)
	if ok {
		*c = ce
	}
	return ok
}

// dialSocket opens a WebSocket to phxd at addr as user t, joining nothing.
func dialSocket(t *testing.T, addr string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, _, err := ws.Dial(ctx, "ws://"+addr+"/socket/websocket?vsn=2.0.0&token=user:t")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}
