package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/phxgo/phxgo/cmd/phxsoak/attack"
)

// soakOptions configure one run: which attacks, against which phxd, for how
// long, and the safety cap.
type soakOptions struct {
	phxd       string   // phxd binary
	phxdArgs   []string // extra phxd flags
	apiKey     string   // PHXD_API_KEY
	duration   time.Duration
	attacks    []attack.Attack
	sockets    int           // per-attack socket override (0: defaults)
	rssCap     int64         // safety cap in bytes: phxd is killed past it
	freshEvery time.Duration // fresh-client probe period
	chat       *chatOptions  // nil: no chat
	dir        string        // scratch directory
	grace      time.Duration // how long phxd may take to exit on SIGTERM (0: kill)
	logf       func(format string, args ...any)
}

// FreshStats counts fresh-client probes.
type FreshStats struct {
	Probes int `json:"probes"`
	Served int `json:"served"`
	// Failures holds the first few failures' details.
	Failures []string `json:"failures,omitempty"`
}

func (f *FreshStats) add(p attack.Fresh) {
	f.Probes++
	if p.Served {
		f.Served++
	} else if len(f.Failures) < 3 {
		f.Failures = append(f.Failures, p.Detail)
	}
}

// AttackReport is one attack's part of a Report.
type AttackReport struct {
	Name   string        `json:"name"`
	Hole   string        `json:"hole"`
	What   string        `json:"what"`
	Result attack.Result `json:"result"`
	// Fresh counts the probes made while this attack ran.
	Fresh FreshStats `json:"fresh"`
	// Problems are its unmet expectations (see expect).
	Problems []string `json:"problems,omitempty"`
}

// Report is a run's outcome.
type Report struct {
	Mode     string         `json:"mode"` // "all" or the attack's name
	Duration time.Duration  `json:"duration_ns"`
	PhxdArgs []string       `json:"phxd_args"`
	Peaks    Peaks          `json:"peaks"`
	Chat     *ChatResult    `json:"chat,omitempty"`
	Fresh    FreshStats     `json:"fresh"`
	Attacks  []AttackReport `json:"attacks"`
	// Log figures: phxd's stderr during the run.
	LogLines       int64 `json:"log_lines"`
	LogBytes       int64 `json:"log_bytes"`
	LongestLogLine int64 `json:"longest_log_line"`
	// Aborted says why the run was cut short (the RSS safety cap, phxd
	// dying), empty when it was not.
	Aborted string `json:"aborted,omitempty"`
	// Shutdown is how long phxd took to exit on SIGTERM after the run,
	// ShutdownClean whether it exited 0 within the grace period.
	Shutdown      time.Duration `json:"shutdown_ns"`
	ShutdownClean bool          `json:"shutdown_clean"`
	// Checks are the bounds, each with its verdict; OK is their conjunction.
	Checks []Check `json:"checks"`
	OK     bool    `json:"ok"`
}

// probe is one timed fresh-client probe.
type probe struct {
	at time.Time
	r  attack.Fresh
}

// runSoak starts phxd, runs the attacks at once (with the chat and the
// fresh-client prober) for o.duration, and reports. phxd is killed at once
// if its RSS passes o.rssCap, which ends every attack.
func runSoak(ctx context.Context, o soakOptions) (*Report, error) {
	p, err := startPhxd(o.phxd, o.apiKey, o.phxdArgs)
	if err != nil {
		return nil, err
	}
	defer func() {
		if p.alive() {
			p.kill()
		}
	}()
	rep := &Report{Mode: "all", PhxdArgs: o.phxdArgs}
	if len(o.attacks) < len(attack.All) {
		names := make([]string, len(o.attacks))
		for i, a := range o.attacks {
			names[i] = a.Name
		}
		rep.Mode = strings.Join(names, ",")
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var abortMu sync.Mutex
	abort := func(why string) {
		abortMu.Lock()
		if rep.Aborted == "" {
			rep.Aborted = why
		}
		abortMu.Unlock()
		cancel()
	}
	smp := newSampler(p.pid, p.addr, o.rssCap, func(rss int64) {
		abort(fmt.Sprintf("phxd RSS %d MB passed the %d MB safety cap: killed", rss>>20, o.rssCap>>20))
		p.kill()
	})
	smpCtx, smpStop := context.WithCancel(context.Background())
	defer smpStop()
	var bg sync.WaitGroup
	bg.Go(func() { smp.run(smpCtx) })
	bg.Go(func() {
		select {
		case <-p.exited:
			abort("phxd exited during the run: " + fmt.Sprint(p.err))
		case <-runCtx.Done():
		case <-smpCtx.Done(): // the run is over
		}
	})
	logLines0, logBytes0 := p.logLines.Load(), p.logBytes.Load()

	var ch *chat
	if o.chat != nil {
		if ch, err = startChat(runCtx, *o.chat, o.dir, p.addr); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	var probes []probe
	var probeMu sync.Mutex
	probeCtx, probeStop := context.WithCancel(runCtx)
	bg.Go(func() {
		t := time.NewTicker(o.freshEvery)
		defer t.Stop()
		for k := 0; ; k++ {
			select {
			case <-probeCtx.Done():
				return
			case <-t.C:
			}
			r := attack.FreshClient(probeCtx, attack.Target{Addr: p.addr, Net: attack.FreshNet}, k)
			if probeCtx.Err() != nil {
				return
			}
			probeMu.Lock()
			probes = append(probes, probe{at: time.Now(), r: r})
			probeMu.Unlock()
		}
	})

	type span struct{ from, to time.Time }
	spans := make([]span, len(o.attacks))
	results := make([]attack.Result, len(o.attacks))
	var wg sync.WaitGroup
	for i, a := range o.attacks {
		wg.Go(func() {
			spans[i].from = time.Now()
			t := attack.Target{Addr: p.addr, APIKey: o.apiKey, Net: a.Net}
			results[i] = a.Run(runCtx, t, attack.Options{Duration: o.duration, Sockets: o.sockets})
			spans[i].to = time.Now()
			if o.logf != nil {
				o.logf("attack %s done after %v: %s", a.Name, results[i].Elapsed.Round(time.Millisecond), results[i].Summary())
			}
		})
	}
	wg.Wait()
	probeStop()
	if ch != nil {
		cr := ch.wait(10 * time.Second)
		rep.Chat = &cr
	}
	rep.Duration = time.Since(start)
	smpStop()
	bg.Wait()
	rep.Peaks = smp.peak()
	rep.LogLines = p.logLines.Load() - logLines0
	rep.LogBytes = p.logBytes.Load() - logBytes0
	rep.LongestLogLine = p.longest.Load()
	if p.alive() {
		if o.grace > 0 {
			rep.Shutdown, rep.ShutdownClean = p.stop(o.grace)
		} else {
			p.kill()
		}
	}
	for i, a := range o.attacks {
		ar := AttackReport{Name: a.Name, Hole: a.Hole, What: a.What, Result: results[i]}
		for _, pr := range probes {
			if !pr.at.Before(spans[i].from) && !pr.at.After(spans[i].to) {
				ar.Fresh.add(pr.r)
			}
		}
		ar.Problems = expect(a.Name, results[i], o.apiKey != "")
		rep.Attacks = append(rep.Attacks, ar)
	}
	for _, pr := range probes {
		rep.Fresh.add(pr.r)
	}
	return rep, nil
}
