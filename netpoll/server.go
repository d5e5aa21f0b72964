package netpoll

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Server owns the event loop (epoll, workers, watchdog) and the timer sweep.
type Server struct {
	cfg   Config
	log   *slog.Logger
	lp    loop
	reg   registry
	start time.Time
	now   atomic.Int64  // coarse clock, see clock()
	gens  atomic.Uint32 // Conn.gen of the last connection

	openConns atomic.Int64
	used      atomic.Int64 // MaxConns slots taken: registry, handed-off HTTP conns, AcquireSlot

	// maxQueued is read on every Send: on a cache line of its own, away
	// from used and dls.mu, which every accept and close write.
	_         [56]byte
	maxQueued atomic.Int64 // high-water mark of any connection's write queue
	_         [56]byte

	ipl      *ipLimiter // per-address limits; nil when off
	dls      deadlines  // handshake, close and linger deadlines
	http     httpConns  // plain-HTTP connections handed to net/http
	stats    counters
	draining atomic.Bool   // Shutdown began: refuse upgrades, signal drained
	drained  chan struct{} // cap 1: the registry emptied while draining

	mu        sync.RWMutex // guards stopping, listeners, serves
	stopping  bool
	listeners []io.Closer // Serve's listeners and the duplicates their loops wait on
	serves    []*serveCtx
	acceptWG  sync.WaitGroup // Serve loops
	bg        sync.WaitGroup // sweep, fallback http.Servers
	done      chan struct{}  // closed when the loops must stop

	shutOnce  sync.Once
	shutDone  chan struct{}
	forceOnce sync.Once
	force     chan struct{} // Close during Shutdown: stop waiting, drop

	onBatch func(closed int) // tests: after each Shutdown batch, with the connections it closed
}

type counters struct {
	accepted, refused, handedOff, slow, protoErr, writes, framesOut atomic.Int64
	refusedIP, rateLimited, paused, pauseTimeouts                   atomic.Int64

	_      [56]byte     // the workers' event counter on a line of its own
	events atomic.Int64 // epoll events of connections, counted only when countEvents is set
}

// countEvents makes every Server count its connections' epoll events in
// stats.events. Tests set it before any Server starts; production leaves
// it off, so the workers do no shared atomic write per event.
var countEvents bool

// Stats is a snapshot of the server's counters.
type Stats struct {
	Conns          int64 // open upgraded connections (NumConns)
	Registered     int64 // connections owned, handshakes and closing ones included
	Accepted       int64 // connections registered by Serve or UpgradeHTTP
	Refused        int64 // connections (and AcquireSlot calls) refused at MaxConns
	HandedOff      int64 // plain HTTP connections given to the fallback handler
	SlowConsumers  int64 // connections closed as slow consumers
	ProtocolErrors int64 // connections failed for protocol violations
	Writes         int64 // writev calls
	FramesOut      int64 // frames (and HTTP responses) completely written

	Slots          int64 // MaxConns slots in use (connections of every kind and AcquireSlot)
	HTTPConns      int64 // plain HTTP connections held by the fallback's net/http server
	RefusedPerIP   int64 // connections refused at MaxConnsPerIP
	RateLimited    int64 // connections refused by ConnRatePerIP
	ReadPaused     int64 // connections whose input is withheld now (PauseRead or output backlog)
	PauseTimeouts  int64 // connections closed for staying paused longer than PauseTimeout
	MaxQueuedBytes int64 // most bytes any connection ever had queued for writing (≤ WriteQueueBytes, plus a close frame)

	TLSHandshakes int64 // ServeTLS handshakes completed (TLSStats)
	TLSFailed     int64 // ServeTLS handshakes failed or timed out
	TLSRefused    int64 // ServeTLS connections closed at accept: MaxTLSHandshakes in progress
	TLSInProgress int64 // ServeTLS handshakes running now
}

// New starts a Server's event loop and workers.
func New(cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if nofile := fdLimit(); cfg.MaxConns > fdCap(nofile) {
		cfg.Logger.Warn("netpoll: MaxConns lowered to fit the open-file limit (raise ulimit -n to serve more)",
			"max_conns", cfg.MaxConns, "nofile", nofile, "lowered_to", fdCap(nofile))
		cfg.MaxConns = fdCap(nofile)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, start: time.Now(),
		drained: make(chan struct{}, 1), done: make(chan struct{}),
		shutDone: make(chan struct{}), force: make(chan struct{})}
	s.ipl = newIPLimiter(cfg)
	s.dls.init()
	s.reg.onZero = s.signalDrained
	s.now.Store(s.since())
	if err := s.lp.init(s, cfg.Workers); err != nil {
		return nil, fmt.Errorf("netpoll: epoll: %w", err)
	}
	s.bg.Add(1)
	go s.sweepLoop()
	return s, nil
}

// NumConns reports open upgraded connections.
func (s *Server) NumConns() int { return int(s.openConns.Load()) }

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{Conns: s.openConns.Load(), Registered: s.reg.count(),
		Accepted: s.stats.accepted.Load(), Refused: s.stats.refused.Load(),
		HandedOff: s.stats.handedOff.Load(), SlowConsumers: s.stats.slow.Load(),
		ProtocolErrors: s.stats.protoErr.Load(), Writes: s.stats.writes.Load(),
		FramesOut: s.stats.framesOut.Load(), Slots: s.used.Load(), HTTPConns: s.http.count(),
		RefusedPerIP: s.stats.refusedIP.Load(), RateLimited: s.stats.rateLimited.Load(),
		ReadPaused: s.stats.paused.Load(), PauseTimeouts: s.stats.pauseTimeouts.Load(),
		MaxQueuedBytes: s.maxQueued.Load()}.withTLS(s.TLSStats())
}

func (st Stats) withTLS(t TLSStats) Stats {
	st.TLSHandshakes, st.TLSFailed, st.TLSRefused, st.TLSInProgress = t.Handshakes, t.Failed, t.Refused, t.InProgress
	return st
}

// noteQueued raises the queue high-water mark; the shared counter is
// written only when a queue grows past every queue before it.
func (s *Server) noteQueued(n int) {
	for {
		m := s.maxQueued.Load()
		if int64(n) <= m || s.maxQueued.CompareAndSwap(m, int64(n)) {
			return
		}
	}
}

func (s *Server) signalDrained() {
	if s.draining.Load() {
		select {
		case s.drained <- struct{}{}:
		default:
		}
	}
}

func (s *Server) isStopping() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.stopping
}

// Shutdown stops accepting, then closes open connections with code and
// reason in batches (batch connections every interval) until all are gone
// or ctx ends, when the rest are dropped. batch ≤ 0 closes all at once.
// It returns ctx.Err() if connections (WebSocket or plain HTTP) had to be
// dropped, ErrServerClosed if the server was already shut down. Reads of
// plain-HTTP connections are cut CloseTimeout after Shutdown starts, so a
// trickling request body cannot hold the drain. When it returns, every
// OnClose has run and no goroutine of the server is left.
func (s *Server) Shutdown(ctx context.Context, code int, reason string, batch int, interval time.Duration) error {
	first := false
	s.shutOnce.Do(func() { first = true })
	if !first {
		<-s.shutDone
		return ErrServerClosed
	}
	defer close(s.shutDone)
	s.stopAccepting()
	s.http.cutReads(time.Now().Add(s.cfg.CloseTimeout))
	httpDone := s.stopHTTP(ctx)
	err := s.drain(ctx, code, truncateReason(reason), batch, interval)
	if herr := <-httpDone; err == nil {
		err = herr
	}
	close(s.done)
	s.bg.Wait()
	s.lp.rq.close()
	s.lp.stop()
	return err
}

// Close drops everything at once (OnClose gets 1006). During a Shutdown it
// makes the Shutdown drop the remaining connections now.
func (s *Server) Close() error {
	s.forceOnce.Do(func() { close(s.force) })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Shutdown(ctx, CloseGoingAway, "", 0, 0)
	if err == context.Canceled {
		err = nil
	}
	return err
}

// addListenerFile records the pollable duplicate of a listener's fd that
// an accept loop waits on, for stopAccepting to close.
func (s *Server) addListenerFile(f io.Closer) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.listeners = append(s.listeners, f)
	return true
}

// stopAccepting refuses new connections and closes the listeners; the
// Serve loops have returned when it returns.
func (s *Server) stopAccepting() {
	s.mu.Lock()
	s.stopping = true
	s.draining.Store(true)
	lns := s.listeners
	s.mu.Unlock()
	for _, ln := range lns {
		_ = ln.Close()
	}
	s.acceptWG.Wait()
}

// stopHTTP shuts the fallback servers down gracefully, or at once when ctx
// ends (then it sends ctx.Err()) or Close is called.
func (s *Server) stopHTTP(ctx context.Context) <-chan error {
	s.mu.RLock()
	serves := s.serves
	s.mu.RUnlock()
	done := make(chan error, 1)
	go func() {
		var wg sync.WaitGroup
		for _, sv := range serves {
			wg.Go(func() {
				hctx, cancel := context.WithCancel(ctx)
				defer cancel()
				go func() {
					select {
					case <-s.force:
						cancel()
					case <-hctx.Done():
					}
				}()
				if sv.http.Shutdown(hctx) != nil {
					_ = sv.http.Close()
				}
			})
		}
		wg.Wait()
		done <- ctx.Err()
	}()
	return done
}

// drain closes connections batch by batch and waits for them to go.
func (s *Server) drain(ctx context.Context, code int, reason string, batch int, interval time.Duration) error {
	if batch <= 0 {
		batch = math.MaxInt
	}
	interval = max(interval, 10*time.Millisecond)
	t := time.NewTimer(0)
	defer t.Stop()
	var acts []connAction
	for {
		select {
		case <-ctx.Done():
			s.dropAll()
			return ctx.Err()
		case <-s.force:
			s.dropAll()
			return nil
		default:
		}
		acts = s.closeBatch(acts[:0], code, reason, batch)
		if s.reg.count() == 0 {
			return nil
		}
		t.Reset(interval)
		select {
		case <-t.C:
		case <-s.drained:
		case <-ctx.Done():
		case <-s.force:
		}
	}
}

// closeBatch closes up to n open connections with code; handshakes in
// progress are dropped (their requests were not answered yet).
func (s *Server) closeBatch(acts []connAction, code int, reason string, n int) []connAction {
	acts = s.reg.collect(acts, func(c *Conn) int {
		switch c.state.Load() {
		case stHandshake, stUpgrading:
			return actDrop
		case stOpen:
			if n > 0 {
				n--
				return actClose
			}
		}
		return actNone
	})
	closed := 0
	for _, a := range acts {
		if a.act == actClose {
			a.c.Close(code, reason)
			closed++
		} else {
			a.c.drop(CloseAbnormal, "")
		}
	}
	clear(acts)
	if s.onBatch != nil {
		s.onBatch(closed)
	}
	return acts
}

// dropAll drops every connection and waits until all are finalized (their
// OnClose returned). It repeats the drop while waiting, for connections a
// racing accept may still have added.
func (s *Server) dropAll() {
	var acts []connAction
	for s.reg.count() > 0 {
		acts = s.reg.collect(acts[:0], func(*Conn) int { return actDrop })
		for _, a := range acts {
			a.c.drop(CloseAbnormal, "")
		}
		clear(acts)
		select {
		case <-s.drained:
		case <-time.After(10 * time.Millisecond):
		}
	}
}
