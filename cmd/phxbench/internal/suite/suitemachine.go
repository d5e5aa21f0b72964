package suite

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/phxgo/phxgo/cmd/phxbench/internal/report"
	"golang.org/x/sys/unix"
)

// What the suite records about where it ran: the machine, the phxd binary and
// the git state (gatherMachine), and small file and shell helpers.

// machineInfo describes where and what the suite measured.
type machineInfo struct {
	Started     time.Time `json:"started"`
	Finished    time.Time `json:"finished"`
	NProc       int       `json:"nproc"`
	CPUModel    string    `json:"cpu_model"`
	Kernel      string    `json:"kernel"`
	MemTotal    string    `json:"mem_total"`
	NoFile      uint64    `json:"nofile"`
	LoadStart   string    `json:"loadavg_start"`
	LoadEnd     string    `json:"loadavg_end"`
	PhxdPath    string    `json:"phxd"`
	PhxdSHA     string    `json:"phxd_sha256"`
	PhxdSHAEnd  string    `json:"phxd_sha256_end"`
	PhxdGo      string    `json:"phxd_go"`
	PhxdRev     string    `json:"phxd_vcs_revision"`
	PhxdDirty   string    `json:"phxd_vcs_modified"`
	PhxdVCSTime string    `json:"phxd_vcs_time"`
	GitHead     string    `json:"git_head"`
	GitDirty    int       `json:"git_dirty_files"`
	GitHeadEnd  string    `json:"git_head_end"`
	GitDirtyEnd int       `json:"git_dirty_files_end"`
	Runs        int       `json:"rounds"`
	Quick       bool      `json:"quick,omitempty"`
}

// finish records the state at the end of a suite: time, load, the phxd
// binary's hash and the work tree (a change during the suite shows).
func (m *machineInfo) finish(phxd string) {
	m.Finished = time.Now()
	m.LoadEnd = loadavg()
	m.PhxdSHAEnd = fileSHA(phxd)
	m.GitHeadEnd, m.GitDirtyEnd = gitState()
}

// gatherMachine describes the machine and the phxd binary.
func gatherMachine(o *suiteOptions) machineInfo {
	m := machineInfo{Started: time.Now(), NProc: runtime.NumCPU(), LoadStart: loadavg(), PhxdPath: o.phxd,
		PhxdSHA: fileSHA(o.phxd), Runs: o.runs, Quick: o.quick}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 && f[0] == "MemTotal:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			m.MemTotal = report.BytesStr(kb * 1024)
		}
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:])
	}
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil {
		m.NoFile = rl.Cur
	}
	if bi, err := buildinfo.ReadFile(o.phxd); err == nil {
		m.PhxdGo = bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				m.PhxdRev = s.Value
			case "vcs.modified":
				m.PhxdDirty = s.Value
			case "vcs.time":
				m.PhxdVCSTime = s.Value
			}
		}
	}
	m.GitHead, m.GitDirty = gitState()
	return m
}

// gitState returns the short HEAD and the number of dirty files of the
// current directory's git work tree ("" when there is none).
func gitState() (string, int) {
	head, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "", 0
	}
	st, err := exec.Command("git", "status", "--short").Output()
	if err != nil {
		return strings.TrimSpace(string(head)), 0
	}
	n := 0
	for l := range strings.SplitSeq(string(st), "\n") {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	return strings.TrimSpace(string(head)), n
}

// fileSHA returns the first 12 hex digits of a file's SHA-256.
func fileSHA(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return ""
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// writeJSONFile writes v as indented JSON.
func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// shellJoin quotes args for a POSIX shell where needed ($PID stays bare).
func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a != "" && a != "$PID" && strings.IndexFunc(a, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,+@", r))
		}) < 0 {
			out[i] = a
			continue
		}
		if a == "$PID" {
			out[i] = a
			continue
		}
		out[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(out, " ")
}
