package engine

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/procstat"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/scenario"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/sys"
)

// The coordinator runs the engines (one in this process, or one per worker
// process with -procs), releases barriers once every engine has reached
// them, ends the run once every engine is done, shows progress and merges
// the results. Workers are this same binary started with -worker; they read
// an init line and control lines on stdin and write events as JSON lines on
// stdout.

// Exit codes of phxbench (the suite reads them from its runs too).
const (
	ExitOK       = 0
	ExitFailed   = 1 // the run completed but expectations failed
	ExitUsage    = 2 // bad flags or scenario
	ExitRunError = 3 // the run could not be carried out
)

// RunOptions configure a run.
type RunOptions struct {
	Procs    int
	Src      [][4]byte
	PID      int   // server process to sample (with Metrics)
	MorePIDs []int // more processes to sample (e.g. the other nodes of a cluster, Redis)
	Sample   time.Duration
	Metrics  string
	Progress ProgressView // nil: no live progress
	Capture  bool
	Step     time.Duration // timeline slot
}

// ProgressView shows a live status line while a run goes on.
type ProgressView interface {
	Begin()              // the run starts now
	Draw(s LiveSnapshot) // the counters summed over the engines
	Finish()             // the run is over
}

// workerHandle is one engine, local or in a child process.
type workerHandle interface {
	send(m ctlMsg)
	live() (LiveSnapshot, bool)
	kill()
	wait() // until the engine (its goroutine, or its process and reader) has ended
}

// workerInit is the first line a worker reads.
type workerInit struct {
	Scenario json.RawMessage `json:"scenario"`
	Worker   int             `json:"worker"`
	Procs    int             `json:"procs"`
	T0       int64           `json:"t0"`
	Src      [][4]byte       `json:"src"`
	Capture  bool            `json:"capture"`
	Step     time.Duration   `json:"step"`
}

// Run runs p and returns the merged result.
func Run(p *scenario.Program, o RunOptions) (*Result, error) {
	t0 := nowNS()
	if o.Step <= 0 {
		o.Step = 250 * time.Millisecond
	}
	events := make(chan workerEvent, 256)
	smps, err := startSamplers(o, t0)
	if err != nil {
		return nil, err
	}
	stopAll := func() [][]procstat.Sample {
		out := make([][]procstat.Sample, len(smps))
		for i, s := range smps {
			out[i] = s.Stop()
		}
		return out
	}
	hs, err := startWorkers(p, o, t0, events)
	if err != nil {
		stopAll()
		return nil, err
	}
	results, err := coordinate(p, o, hs, events)
	samples := stopAll()
	waitWorkers(hs, events)
	if err != nil {
		return nil, err
	}
	return aggregate(p, o, t0, results, samples), nil
}

// workerExitWait bounds how long Run waits for the engines to end once it
// has their results (or an error); then it kills the processes left.
const workerExitWait = 10 * time.Second

// waitWorkers waits until every engine has ended, draining the events
// they still send (late progress lines, an exit notice) so that none
// blocks; processes still running after workerExitWait are killed. Run
// thus leaves no goroutine or child process behind.
func waitWorkers(hs []workerHandle, events chan workerEvent) {
	all := make(chan struct{})
	go func() {
		for _, h := range hs {
			h.wait()
		}
		close(all)
	}()
	bound := time.NewTimer(workerExitWait)
	defer bound.Stop()
	for {
		select {
		case <-events:
		case <-all:
			return
		case <-bound.C:
			for _, h := range hs {
				h.kill()
			}
		}
	}
}

// startSamplers samples o.PID (with o.Metrics) and o.MorePIDs, in that
// order; none without o.PID.
func startSamplers(o RunOptions, t0 int64) ([]*procstat.Sampler, error) {
	if o.PID <= 0 {
		return nil, nil
	}
	var smps []*procstat.Sampler
	for i, pid := range append([]int{o.PID}, o.MorePIDs...) {
		metrics := ""
		if i == 0 {
			metrics = o.Metrics
		}
		s, err := procstat.Start(pid, o.Sample, metrics, t0)
		if err != nil {
			for _, s := range smps {
				s.Stop()
			}
			return nil, err
		}
		smps = append(smps, s)
	}
	return smps, nil
}

// startWorkers starts the engines.
func startWorkers(p *scenario.Program, o RunOptions, t0 int64, events chan workerEvent) ([]workerHandle, error) {
	if o.Procs <= 1 {
		eo := engineOptions{worker: 0, procs: 1, t0: t0, src: o.Src, capture: o.Capture, step: o.Step}
		h, err := startLocal(p, eo, events)
		if err != nil {
			return nil, err
		}
		return []workerHandle{h}, nil
	}
	scJSON, err := json.Marshal(p.Scenario)
	if err != nil {
		return nil, err
	}
	var hs []workerHandle
	for i := range o.Procs {
		init := workerInit{Scenario: scJSON, Worker: i, Procs: o.Procs, T0: t0, Src: o.Src, Capture: o.Capture && i == 0, Step: o.Step}
		h, err := startProc(init, events)
		if err != nil {
			for _, h := range hs {
				h.kill()
			}
			return nil, err
		}
		hs = append(hs, h)
	}
	return hs, nil
}

// coordinator relays barriers and the end between the engines.
type coordinator struct {
	hs       []workerHandle
	arrivals map[int]int
	done     int
	got      int
	results  []*workerResult
	lives    []LiveSnapshot
}

// coordinate relays barriers and the end, draws progress and collects one
// result per worker. SIGINT/SIGTERM stop the run early (results are kept).
func coordinate(p *scenario.Program, o RunOptions, hs []workerHandle, events chan workerEvent) ([]*workerResult, error) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	if o.Progress != nil {
		o.Progress.Begin()
		defer o.Progress.Finish()
	}
	c := &coordinator{hs: hs, arrivals: map[int]int{}, results: make([]*workerResult, len(hs)), lives: make([]LiveSnapshot, len(hs))}
	for c.got < len(hs) {
		select {
		case ev := <-events:
			if err := c.handle(ev); err != nil {
				return nil, err
			}
		case <-sig:
			c.broadcast(ctlMsg{Stop: true})
		case <-tick.C:
			if o.Progress != nil {
				o.Progress.Draw(c.live())
			}
		}
	}
	return c.results, nil
}

// handle applies one worker event.
func (c *coordinator) handle(ev workerEvent) error {
	switch {
	case ev.Error != "":
		for _, h := range c.hs {
			h.kill()
		}
		return fmt.Errorf("worker %d: %s", ev.Worker, ev.Error)
	case ev.Arrive != nil:
		if c.arrivals[*ev.Arrive]++; c.arrivals[*ev.Arrive] == len(c.hs) {
			c.broadcast(ctlMsg{Release: ev.Arrive})
		}
	case ev.Done:
		if c.done++; c.done == len(c.hs) {
			c.broadcast(ctlMsg{End: true})
		}
	case ev.Progress != nil:
		c.lives[ev.Worker] = *ev.Progress
	case ev.Result != nil:
		c.results[ev.Worker] = ev.Result
		c.got++
	}
	return nil
}

// broadcast sends m to every engine.
func (c *coordinator) broadcast(m ctlMsg) {
	for _, h := range c.hs {
		h.send(m)
	}
}

// live sums the workers' latest counters.
func (c *coordinator) live() LiveSnapshot {
	var sum LiveSnapshot
	for i, h := range c.hs {
		if l, ok := h.live(); ok {
			c.lives[i] = l
		}
		sum.add(c.lives[i])
	}
	return sum
}

// localWorker runs the engine on a goroutine of this process.
type localWorker struct {
	e    *engine
	done chan struct{} // closed when the engine's goroutine has ended
}

// startLocal runs an engine on a goroutine; its events go to events.
func startLocal(p *scenario.Program, eo engineOptions, events chan workerEvent) (*localWorker, error) {
	out := func(ev workerEvent) { events <- ev }
	e, err := newEngine(p, eo, out)
	if err != nil {
		return nil, err
	}
	w := &localWorker{e: e, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		r, err := e.run()
		if err != nil {
			events <- workerEvent{Error: err.Error()}
			return
		}
		events <- workerEvent{Result: r}
	}()
	return w, nil
}

func (w *localWorker) send(m ctlMsg)              { w.e.ctl <- m }
func (w *localWorker) live() (LiveSnapshot, bool) { return w.e.st.live.snapshot(), true }
func (w *localWorker) kill() {
	select { // the engine may have ended: never block on its control channel
	case w.e.ctl <- ctlMsg{Stop: true}:
	case <-w.done:
	}
}
func (w *localWorker) wait() { <-w.done }

// procWorker is a child process running -worker.
type procWorker struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	stdin io.WriteCloser
	done  chan struct{} // closed when readEvents has seen the process exit
}

// startProc starts a -worker child and sends it init.
func startProc(init workerInit, events chan workerEvent) (*procWorker, error) {
	c, err := sys.StartChild("worker", "", "-worker")
	if err != nil {
		return nil, err
	}
	w := &procWorker{cmd: c.Cmd, stdin: c.Stdin, done: make(chan struct{})}
	if err := w.writeLine(init); err != nil {
		w.kill()
		return nil, err
	}
	go w.readEvents(init.Worker, c.Stdout, events)
	return w, nil
}

// readEvents forwards the worker's event lines until it exits.
func (w *procWorker) readEvents(id int, stdout io.Reader, events chan workerEvent) {
	defer close(w.done)
	r := bufio.NewReaderSize(stdout, 1<<20)
	gotResult := false
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 {
			var ev workerEvent
			if jerr := json.Unmarshal(line, &ev); jerr != nil {
				ev = workerEvent{Error: "bad event line: " + jerr.Error()}
			}
			ev.Worker = id
			gotResult = gotResult || ev.Result != nil
			events <- ev
		}
		if err != nil {
			break
		}
	}
	werr := w.cmd.Wait()
	if !gotResult {
		msg := "exited without a result"
		if werr != nil {
			msg += ": " + werr.Error()
		}
		events <- workerEvent{Worker: id, Error: msg}
	}
}

// writeLine sends one JSON line to the worker.
func (w *procWorker) writeLine(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_, err = w.stdin.Write(append(b, '\n'))
	return err
}

func (w *procWorker) send(m ctlMsg)              { _ = w.writeLine(m) }
func (w *procWorker) live() (LiveSnapshot, bool) { return LiveSnapshot{}, false }
func (w *procWorker) kill()                      { _ = w.cmd.Process.Kill() }
func (w *procWorker) wait()                      { <-w.done }

// WorkerMain is the -worker mode: run one engine as told on stdin.
func WorkerMain(stdin io.Reader, stdout io.Writer) int {
	signal.Ignore(os.Interrupt) // the parent decides when to stop
	sys.RaiseNoFile()
	in := bufio.NewReaderSize(stdin, 1<<20)
	var enc lineWriter
	enc.w = stdout
	fail := func(err error) int {
		enc.write(workerEvent{Error: err.Error()})
		return 3
	}
	line, err := in.ReadBytes('\n')
	if err != nil {
		return fail(fmt.Errorf("read init: %w", err))
	}
	var init workerInit
	if err := json.Unmarshal(line, &init); err != nil {
		return fail(fmt.Errorf("init: %w", err))
	}
	p, err := workerProgram(init)
	if err != nil {
		return fail(err)
	}
	eo := engineOptions{worker: init.Worker, procs: init.Procs, t0: init.T0, src: init.Src, capture: init.Capture, step: init.Step}
	e, err := newEngine(p, eo, func(ev workerEvent) { enc.write(ev) })
	if err != nil {
		return fail(err)
	}
	go readControl(in, e.ctl)
	stop := make(chan struct{})
	go reportProgress(e, &enc, stop)
	r, err := e.run()
	close(stop)
	if err != nil {
		return fail(err)
	}
	enc.write(workerEvent{Result: r})
	return 0
}

// reportProgress sends the engine's live counters until stop closes.
func reportProgress(e *engine, enc *lineWriter, stop chan struct{}) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s := e.st.live.snapshot()
			enc.write(workerEvent{Progress: &s})
		}
	}
}

// workerProgram compiles the scenario a worker was given and checks the
// file limit for its share of the clients.
func workerProgram(init workerInit) (*scenario.Program, error) {
	sc, err := scenario.ParseScenarioBytes(init.Scenario)
	if err != nil {
		return nil, err
	}
	p, err := scenario.Compile(sc)
	if err != nil {
		return nil, err
	}
	return p, sys.CheckNoFile(p.FDsNeeded()/max(init.Procs, 1) + 1)
}

// readControl forwards control lines; a closed stdin stops the run.
func readControl(in *bufio.Reader, ctl chan<- ctlMsg) {
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 0 {
			var m ctlMsg
			if json.Unmarshal(line, &m) == nil {
				ctl <- m
			}
		}
		if err != nil {
			ctl <- ctlMsg{Stop: true}
			return
		}
	}
}

// lineWriter writes JSON lines from several goroutines.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lineWriter) write(v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(workerEvent{Error: err.Error()})
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = l.w.Write(append(b, '\n'))
}
