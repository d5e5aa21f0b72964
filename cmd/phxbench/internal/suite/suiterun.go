package suite

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/engine"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/procstat"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/promtext"
	"github.com/phxgo/phxgo/cmd/phxbench/internal/report"
)

// Running the suite's cases: one phxbench child per run against a fresh phxd
// child (runCase, startServer), bounded in time, with the server's counters
// scraped and the CPU of the machine and of both processes measured.

// runLine is the progress line of a finished run.
func runLine(c suiteCase, r *runRecord) string {
	if !r.ok() {
		return "ERROR " + r.Err
	}
	f := r.Figures
	var s string
	switch c.Kind {
	case "idle":
		s = fmt.Sprintf("%s/socket, %.0f goroutines, %.0f threads", report.BytesStr(f["rss_per_socket_b"]), f["goroutines_held"], f["threads_held"])
	case "fanout":
		s = fmt.Sprintf("%.2f µs/delivery, bare write %.2f µs, %.2f×, lost %.0f", f["cpu_per_delivery_us"], f["bare_write_us"], f["vs_bare_write"], f["lost"])
	case "connect":
		s = fmt.Sprintf("%.0f/s, %.1f µs/connect+join, floor %.1f µs (%.2f×)", f["connect_joins_per_s"], f["cpu_per_connect_join_us"],
			f["connect_floor_us"], f["connect_vs_floor"])
	case "echo":
		s = fmt.Sprintf("p50 %s p99 %s (floor's client: %s, floor %s), %.1f µs/echo, floor %.1f µs (%.2f×), GC %.1f%%",
			report.Dur(f["echo_p50_us"]), report.Dur(f["echo_p99_us"]), report.Dur(f["echo_fc_p99_us"]), report.Dur(f["echo_floor_p99_us"]),
			f["cpu_per_echo_us"], f["echo_floor_us"], f["echo_vs_floor"], f["gc_cpu_share_pct"])
	case "presence":
		s = fmt.Sprintf("%.0f joins/s, %.1f µs/join, %.0f frames, %s, peak RSS %s", f["connect_joins_per_s"], f["cpu_per_connect_join_us"],
			f["frames_in"], fmtGB(f["bytes_in"]), fmtMiB(f["rss_peak_b"]))
		if _, ok := f["deflate_offered"]; ok {
			s += fmt.Sprintf(", deflate on %.0f of %.0f sockets, %s inflated", f["deflate_negotiated"], f["deflate_offered"], fmtGB(f["bytes_in_inflated"]))
		}
	case "slow":
		s = fmt.Sprintf("others' echo p50 %s p99 %s; blocked replies p50 %s", report.Dur(f["echo_p50_us"]), report.Dur(f["echo_p99_us"]), report.Dur(f["block_p50_us"]))
	}
	st := "ok"
	if r.Exit != engine.ExitOK {
		st = fmt.Sprintf("FAIL(exit %d)", r.Exit)
	}
	return fmt.Sprintf("%s; %.1f s, load %.2f, others %.2f cores, %s", s, r.WallS, r.Load1, r.Others, st)
}

// runCase starts a fresh phxd, runs the case's phxbench command against it
// and stops the server.
func runCase(o *suiteOptions, exe string, c suiteCase, round int, port *int, dir string) *runRecord {
	rec := &runRecord{ID: fmt.Sprintf("%s-r%d", c.ID, round), Case: c.ID, Round: round, Start: time.Now()}
	base := filepath.Join(dir, rec.ID)
	busy0 := cpuBusy()
	rec.Load1 = load1()
	t0 := time.Now()
	var env []string
	if c.GCTrace {
		env = append(env, "GODEBUG=gctrace=1")
	}
	addr, srv, err := startServer(o, port, base+".phxd.log", env, c.Server...)
	if err != nil {
		rec.Err = err.Error()
		return rec
	}
	args := c.command(exe, addr, strconv.Itoa(srv.cmd.Process.Pid), base+".json", base+".html")
	args = append(args, "-progress", "off")
	printable := c.command("phxbench", addr, "$PID", rec.ID+".json", rec.ID+".html")
	rec.Command = shellJoin(printable)
	_ = os.Remove(base + ".json")
	out, err := os.Create(base + ".txt")
	if err != nil {
		rec.Err = err.Error()
		srv.stop()
		return rec
	}
	fmt.Fprintf(out, "# phxd %s\n# %s\n", strings.Join(c.serverArgs(addr), " "), rec.Command)
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = out, out
	runErr := runBounded(cmd, caseTimeout(o))
	out.Close()
	rec.Metrics = promtext.Scrape("http://"+addr+"/metrics", "phxgo_")
	srv.stop()
	rec.WallS = time.Since(t0).Seconds()
	rec.ServerS = srv.cpuSeconds()
	if ps := cmd.ProcessState; ps != nil {
		rec.ClientS = (ps.UserTime() + ps.SystemTime()).Seconds()
		rec.Exit = ps.ExitCode()
	}
	rec.Others = (cpuBusy()-busy0)/rec.WallS - (rec.ServerS+rec.ClientS)/rec.WallS
	if runErr != nil {
		rec.Err = runErr.Error()
		return rec
	}
	if rec.Exit != engine.ExitOK && rec.Exit != engine.ExitFailed {
		rec.Err = fmt.Sprintf("phxbench exited %d (see %s.txt)", rec.Exit, base)
		return rec
	}
	b, err := os.ReadFile(base + ".json")
	if err != nil {
		rec.Err = err.Error()
		return rec
	}
	var r engine.Result
	if err := json.Unmarshal(b, &r); err != nil {
		rec.Err = "result: " + err.Error()
		return rec
	}
	rec.Figures = figuresOf(&r)
	addServerMetrics(rec.Figures, rec.Metrics)
	rec.PhxdAt = srv.started
	if c.GCTrace {
		if b, err := os.ReadFile(base + ".phxd.log"); err == nil {
			addGCFigures(rec.Figures, parseGCTrace(string(b)), &r, r.Started.Sub(srv.started).Seconds())
		}
	}
	for _, ch := range r.Checks {
		if !ch.OK {
			rec.Checks = append(rec.Checks, ch)
		}
	}
	return rec
}

// caseTimeout bounds one phxbench run (its scenario bounds itself; this
// catches a hang).
func caseTimeout(o *suiteOptions) time.Duration {
	return 3*time.Minute + o.hold + o.echoFor
}

// runBounded runs cmd, killing it after d.
func runBounded(cmd *exec.Cmd, d time.Duration) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil // the exit status is read from ProcessState
		}
		return err
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		return fmt.Errorf("killed after %v", d)
	}
}

// phxdProc is a running phxd child.
type phxdProc struct {
	cmd     *exec.Cmd
	started time.Time     // just before the exec
	exited  chan struct{} // closed once Wait returned (ProcessState is set)
}

// startServer starts phxd (with env added to the suite's, and flags after
// serverArgs') on the next free port and waits until it serves /healthz.
func startServer(o *suiteOptions, port *int, logPath string, env []string, flags ...string) (string, *phxdProc, error) {
	var addr string
	for tries := 0; ; tries++ {
		if tries > o.portHi-o.portLo {
			return "", nil, fmt.Errorf("no free port in %d-%d", o.portLo, o.portHi)
		}
		p := *port
		if *port++; *port > o.portHi {
			*port = o.portLo
		}
		addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			break
		}
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(o.phxd, append(serverArgs(addr), flags...)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return "", nil, fmt.Errorf("start phxd: %w", err)
	}
	s := &phxdProc{cmd: cmd, started: started, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		logf.Close()
		if st, err := os.Stat(logPath); err == nil && st.Size() == 0 {
			_ = os.Remove(logPath)
		}
		close(s.exited)
	}()
	client := &http.Client{Timeout: 500 * time.Millisecond}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return "", nil, fmt.Errorf("phxd exited at start (see %s)", logPath)
		default:
		}
		if resp, err := client.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr, s, nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return "", nil, fmt.Errorf("phxd did not answer /healthz on %s within 15 s", addr)
}

// stop sends SIGTERM and waits (SIGKILL after 20 s).
func (s *phxdProc) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}

// cpuSeconds is the exited server's user + system CPU.
func (s *phxdProc) cpuSeconds() float64 {
	if ps := s.cmd.ProcessState; ps != nil {
		return (ps.UserTime() + ps.SystemTime()).Seconds()
	}
	return 0
}

// cpuBusy returns the machine's non-idle CPU seconds so far (/proc/stat).
func cpuBusy() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	v, _ := parseCPUBusy(string(b), procstat.ClockTicks())
	return v
}

// parseCPUBusy reads the aggregate "cpu" line of /proc/stat: everything but
// idle and iowait, in seconds (guest time is already in user).
func parseCPUBusy(stat string, hz float64) (float64, error) {
	for line := range strings.SplitSeq(stat, "\n") {
		f := strings.Fields(line)
		if len(f) < 8 || f[0] != "cpu" {
			continue
		}
		var busy int64
		for i, s := range f[1:min(len(f), 9)] { // user nice system idle iowait irq softirq steal
			v, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/stat: %w", err)
			}
			if i != 3 && i != 4 { // idle, iowait; steal (other guests) counts as busy
				busy += v
			}
		}
		return float64(busy) / hz, nil
	}
	return 0, errors.New("/proc/stat: no cpu line")
}

// loadavg returns /proc/loadavg's three averages.
func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// load1 returns the 1-minute load average.
func load1() float64 {
	v, _ := strconv.ParseFloat(strings.Fields(loadavg() + " 0")[0], 64)
	return v
}
