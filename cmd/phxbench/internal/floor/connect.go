package floor

import (
	"errors"
	"fmt"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/sys"
	"golang.org/x/sys/unix"
)

// The connect+join floor: N sockets connect to the bare server with at most
// Inflight handshakes in flight (and at most Rate connects per second when
// Rate > 0), each writes a request of the upgrade's size, waits for a reply
// of the 101 response's size, writes a join of the join frame's size and
// waits for a reply of the join reply's size; the sockets stay open until
// all have joined, as in the connect scenario. The bare server's work per
// socket is accept4(2), epoll_ctl(2), then for each of the two round
// trips one read(2) and one write(2) (epoll_wait wake-ups shared). The
// close is not part of it, as it is not part of phxd's connect+join figure
// (first connect to last join).

// ConnectSizes are the request and reply sizes of one connect+join, bytes
// on the wire.
type ConnectSizes struct {
	Upgrade, Switching, Join, JoinReply int
}

// ConnectOptions configure the connect floor.
type ConnectOptions struct {
	Exe      string
	N        int
	Rate     float64 // connects per second; 0: as fast as Inflight allows
	Inflight int     // handshakes in flight (0: 256)
	Sizes    ConnectSizes
	Src      [][4]byte
}

// ConnectResult is the measured connect floor.
type ConnectResult struct {
	Sockets         int          `json:"sockets"`
	Joined          int          `json:"joined"`
	Rate            float64      `json:"rate"` // offered; 0: unlimited
	Inflight        int          `json:"inflight"`
	ElapsedS        float64      `json:"elapsed_s"`
	JoinsPerS       float64      `json:"joins_per_s"`
	CPUS            float64      `json:"cpu_s"`
	CPUPerConnectUS float64      `json:"cpu_per_connect_join_us"`
	Sizes           ConnectSizes `json:"sizes"`
}

// MeasureConnect runs the connect floor.
func MeasureConnect(o ConnectOptions) (*ConnectResult, error) {
	if o.N < 1 {
		return nil, errors.New("connect floor: N must be positive")
	}
	if o.Inflight <= 0 {
		o.Inflight = 256
	}
	if o.Sizes.Upgrade < 1 || o.Sizes.Switching < 1 || o.Sizes.Join < 1 || o.Sizes.JoinReply < 1 {
		return nil, errors.New("connect floor: sizes must be positive")
	}
	if err := sys.CheckNoFile(o.N); err != nil {
		return nil, err
	}
	srv, err := startChild(o.Exe, "connect", fmt.Sprint(o.Sizes.Switching), fmt.Sprint(o.Sizes.JoinReply))
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	defer unix.Close(ep)
	type conn struct {
		fd, state, got int // state 0 connecting, 1 upgrade sent, 2 join sent, 3 joined
	}
	conns := make([]conn, 0, o.N)
	defer func() {
		for _, c := range conns {
			_ = unix.Close(c.fd)
		}
	}()
	upgrade, join := filled(o.Sizes.Upgrade), filled(o.Sizes.Join)
	buf := make([]byte, 64<<10)
	events := make([]unix.EpollEvent, 512)
	cpu0, err := srv.cpu()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	inflight, joined := 0, 0
	deadline := start.Add(60*time.Second + time.Duration(float64(o.N)/max(o.Rate, 1000)*2*float64(time.Second)))
	for joined < o.N {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("connect floor: %d of %d joined before the deadline", joined, o.N)
		}
		for len(conns) < o.N && inflight < o.Inflight {
			if o.Rate > 0 && time.Since(start) < time.Duration(float64(len(conns))/o.Rate*float64(time.Second)) {
				break
			}
			fd, err := sys.SocketTo(srv.port, o.Src, len(conns), true)
			if err != nil {
				return nil, fmt.Errorf("connect floor: %w", err)
			}
			conns = append(conns, conn{fd: fd})
			ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT, Fd: int32(len(conns) - 1)}
			if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
				return nil, err
			}
			inflight++
		}
		timeout := 10
		if o.Rate > 0 {
			timeout = 1
		}
		n, err := unix.EpollWait(ep, events, timeout)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return nil, err
		}
		for _, ev := range events[:max(n, 0)] {
			c := &conns[ev.Fd]
			if c.state == 0 {
				if ev.Events&(unix.EPOLLERR|unix.EPOLLHUP) != 0 {
					return nil, errors.New("connect floor: connect failed")
				}
				if ev.Events&unix.EPOLLOUT == 0 {
					continue
				}
				_ = unix.EpollCtl(ep, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: ev.Fd})
				if _, err := unix.Write(c.fd, upgrade); err != nil {
					return nil, fmt.Errorf("connect floor write: %w", err)
				}
				c.state = 1
				continue
			}
			k, err := unix.Read(c.fd, buf)
			if k <= 0 || err != nil {
				if k == 0 {
					return nil, errors.New("connect floor: the server closed a socket")
				}
				continue
			}
			c.got += k
			switch {
			case c.state == 1 && c.got >= o.Sizes.Switching:
				c.got -= o.Sizes.Switching
				if _, err := unix.Write(c.fd, join); err != nil {
					return nil, fmt.Errorf("connect floor write: %w", err)
				}
				c.state = 2
			case c.state == 2 && c.got >= o.Sizes.JoinReply:
				c.state = 3
				_ = unix.EpollCtl(ep, unix.EPOLL_CTL_DEL, c.fd, nil)
				inflight--
				joined++
			}
		}
	}
	elapsed := time.Since(start)
	cpu1, err := srv.cpu()
	if err != nil {
		return nil, err
	}
	r := &ConnectResult{Sockets: o.N, Joined: joined, Rate: o.Rate, Inflight: o.Inflight, ElapsedS: elapsed.Seconds(),
		CPUS: cpu1 - cpu0, Sizes: o.Sizes}
	r.JoinsPerS = float64(joined) / elapsed.Seconds()
	r.CPUPerConnectUS = r.CPUS * 1e6 / float64(max(joined, 1))
	return r, nil
}
