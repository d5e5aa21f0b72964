package floor

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/hist"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/sys"
	"golang.org/x/sys/unix"
)

// The echo floor: N loopback sockets to the bare server, each sending a
// request of the echo push's size every N/rate seconds from a random phase
// (the echo scenario's arrival pattern, at most one request outstanding per
// socket), the server answering each read with one write of the reply's
// size. The figure is the bare server's CPU per echo: one epoll_wait
// wake-up (shared when requests coincide), one read(2), one write(2).

// EchoOptions configure the echo floor.
type EchoOptions struct {
	Exe        string        // phxbench binary for the child ("": this one)
	N          int           // sockets
	Rate       float64       // requests per second over all sockets
	D          time.Duration // how long requests are sent
	Req, Resp  int           // request and reply sizes, bytes on the wire
	Src        [][4]byte     // client source addresses
	HistBits   uint8         // latency histogram precision (0: 7)
	WarmupWait time.Duration // pause after connecting (0: 200 ms)

	// Target, when set, is a real server measured by this same client
	// in place of the bare one (Req and Resp are then its frames' sizes).
	Target *Target
}

// Target is a real server for the echo loop: the same client, arrival
// pattern and request bytes as the floor's, so that its round trip and
// the floor's are measured the same way (phxbench's own client parses
// every frame and reply on one loop, which the floor's client does not).
type Target struct {
	Port  int
	Setup func(fd int) error      // on a blocking socket: handshake, join; leaves nothing unread
	Req   []byte                  // the request sent every time (len(Req) == EchoOptions.Req)
	CPU   func() (float64, error) // the server process's CPU seconds so far
}

// EchoResult is the measured echo floor.
type EchoResult struct {
	Sockets      int     `json:"sockets"`
	Rate         float64 `json:"rate"`
	DurationS    float64 `json:"duration_s"`
	ReqBytes     int     `json:"req_bytes"`
	RespBytes    int     `json:"resp_bytes"`
	Arrival      string  `json:"arrival"`
	Echoes       int64   `json:"echoes"`
	Skipped      int64   `json:"skipped"` // sends skipped: the socket's previous echo had not returned
	CPUS         float64 `json:"cpu_s"`   // the bare server's, over the sending window
	CPUPerEchoUS float64 `json:"cpu_per_echo_us"`
	P50US        float64 `json:"p50_us"`
	P99US        float64 `json:"p99_us"`
	MaxUS        float64 `json:"max_us"`
}

// MeasureEcho runs the echo floor.
func MeasureEcho(o EchoOptions) (*EchoResult, error) {
	if o.N < 1 || o.Rate <= 0 || o.D <= 0 || o.Req < 1 || o.Resp < 1 {
		return nil, errors.New("echo floor: N, rate, duration and sizes must be positive")
	}
	if err := sys.CheckNoFile(o.N); err != nil {
		return nil, err
	}
	req := filled(o.Req)
	port, cpu := 0, func() (float64, error) { return 0, nil }
	if t := o.Target; t != nil {
		if len(t.Req) != o.Req || t.Setup == nil || t.CPU == nil {
			return nil, errors.New("echo floor: target needs Setup, CPU and a request of Req bytes")
		}
		port, cpu, req = t.Port, t.CPU, t.Req
	} else {
		srv, err := startChild(o.Exe, "echo", fmt.Sprint(o.Resp))
		if err != nil {
			return nil, err
		}
		defer srv.Stop()
		port, cpu = srv.port, srv.cpu
	}
	fds := make([]int, 0, o.N)
	defer func() {
		for _, fd := range fds {
			_ = unix.Close(fd)
		}
	}()
	for i := range o.N {
		fd, err := openSocket(port, o.Src, i, o.Target)
		if err != nil {
			return nil, fmt.Errorf("echo floor: %w", err)
		}
		fds = append(fds, fd)
	}
	ep, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	defer unix.Close(ep)
	for i, fd := range fds {
		if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(i)}); err != nil {
			return nil, err
		}
	}
	wait := o.WarmupWait
	if wait <= 0 {
		wait = 200 * time.Millisecond
	}
	time.Sleep(wait)

	sent := make([]atomic.Int64, o.N) // send time of the outstanding request, 0: none
	bits := o.HistBits
	if bits == 0 {
		bits = 7
	}
	h := hist.New(bits)
	var echoes atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	var bad readFaults
	wg.Add(1)
	go func() {
		defer wg.Done()
		bad = readLoop(ep, fds, o.Resp, sent, h, &echoes, &stop)
	}()

	every := time.Duration(float64(o.N) / o.Rate * float64(time.Second))
	phase := make([]time.Duration, o.N)
	for i := range phase {
		phase[i] = time.Duration(rand.Int64N(int64(max(every, 1))))
	}
	order := make([]int, o.N)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return int(phase[a] - phase[b]) })

	cpu0, err := cpu()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	var skipped int64
	for round := 0; ; round++ {
		base := start.Add(time.Duration(round) * every)
		if base.Sub(start) >= o.D {
			break
		}
		for _, i := range order {
			due := base.Add(phase[i])
			if due.Sub(start) >= o.D {
				break
			}
			if d := time.Until(due); d > 0 {
				time.Sleep(d)
			}
			if !sent[i].CompareAndSwap(0, time.Now().UnixNano()) {
				skipped++
				continue
			}
			k, err := unix.Write(fds[i], req)
			if errors.Is(err, unix.EAGAIN) { // nothing sent: not outstanding
				sent[i].Store(0)
				skipped++
				continue
			}
			if err == nil && k != len(req) {
				err = fmt.Errorf("%d of %d bytes written, the stream is cut", k, len(req))
			}
			if err != nil {
				stop.Store(true)
				wg.Wait()
				return nil, fmt.Errorf("echo floor write: %w", err)
			}
		}
	}
	// Let the last replies come back (at most a second).
	for t := time.Now(); time.Since(t) < time.Second && outstanding(sent) > 0; {
		time.Sleep(5 * time.Millisecond)
	}
	cpu1, err := cpu()
	elapsed := time.Since(start)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	if err := bad.err(o.Resp); err != nil {
		return nil, fmt.Errorf("echo floor: %w", err)
	}
	n := echoes.Load()
	r := &EchoResult{
		Sockets: o.N, Rate: o.Rate, DurationS: elapsed.Seconds(), ReqBytes: o.Req, RespBytes: o.Resp,
		Arrival: fmt.Sprintf("each socket every %v from a random phase (%.0f/s in total), one request outstanding at most", every, o.Rate),
		Echoes:  n, Skipped: skipped, CPUS: cpu1 - cpu0,
	}
	if n > 0 {
		r.CPUPerEchoUS = r.CPUS * 1e6 / float64(n)
		r.P50US, r.P99US, r.MaxUS = hist.US(h.Quantile(0.5)), hist.US(h.Quantile(0.99)), hist.US(h.Max())
	}
	return r, nil
}

// openSocket connects socket i to port; with a target, it is set up
// (blocking) before it turns non-blocking.
func openSocket(port int, src [][4]byte, i int, t *Target) (int, error) {
	fd, err := sys.SocketTo(port, src, i, t == nil)
	if err != nil {
		return -1, err
	}
	if t == nil {
		err = waitConnected(fd)
	} else if err = t.Setup(fd); err == nil {
		err = unix.SetNonblock(fd, true)
	}
	if err != nil {
		_ = unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// outstanding counts requests not answered yet.
func outstanding(sent []atomic.Int64) int {
	n := 0
	for i := range sent {
		if sent[i].Load() != 0 {
			n++
		}
	}
	return n
}

// readFaults are what the read loop saw go wrong: sockets the server
// closed (or that failed), and sockets left holding part of a reply when
// the run ended, which means the replies are not the expected size.
type readFaults struct {
	closed, partial int
	wait            error // epoll_wait failed
}

func (f readFaults) err(resp int) error {
	switch {
	case f.wait != nil:
		return f.wait
	case f.closed > 0:
		return fmt.Errorf("%d sockets closed by the server or failed", f.closed)
	case f.partial > 0:
		return fmt.Errorf("%d sockets hold part of a reply at the end: the replies are not %d bytes", f.partial, resp)
	}
	return nil
}

// readLoop reads replies until stop, recording each complete reply's round
// trip. A socket that reaches EOF or fails leaves the epoll set (level
// triggered, it would be reported again at once).
func readLoop(ep int, fds []int, resp int, sent []atomic.Int64, h *hist.Hist, echoes *atomic.Int64, stop *atomic.Bool) (f readFaults) {
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	got := make([]int, len(fds))
	defer func() {
		for _, g := range got {
			if g != 0 {
				f.partial++
			}
		}
	}()
	for !stop.Load() {
		n, err := unix.EpollWait(ep, events, 20)
		if err != nil && !errors.Is(err, unix.EINTR) {
			f.wait = fmt.Errorf("epoll_wait: %w", err)
			return f
		}
		now := time.Now().UnixNano()
		for _, ev := range events[:max(n, 0)] {
			i := int(ev.Fd)
			k, err := unix.Read(fds[i], buf)
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			if k <= 0 || err != nil {
				_ = unix.EpollCtl(ep, unix.EPOLL_CTL_DEL, fds[i], nil)
				f.closed++
				continue
			}
			got[i] += k
			for got[i] >= resp {
				got[i] -= resp
				if t := sent[i].Swap(0); t != 0 {
					h.Record(now - t)
					echoes.Add(1)
				}
			}
		}
	}
	return f
}
