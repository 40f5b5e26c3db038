// Command loadgen drives an HTTP/1.1 server over keep-alive connections and prints one
// JSON object with the throughput, the errors by kind and the latency percentiles.
//
// Two modes:
//
//	open  constant rate: request i is scheduled at start + i/rate whatever happened to the
//	      previous ones, and its latency runs from that scheduled time, so time spent
//	      queued behind a slow response (all connections busy) counts: free of
//	      coordinated omission. fell_behind is true when the achieved rate is under 95%
//	      of the target.
//	max   closed loop: every connection sends its next request as soon as the previous
//	      answer arrives, for the duration; latency from the send.
//
// Requests are written by hand and responses read with a minimal parser (status line,
// Content-Length or chunked, Connection: close) over net.Conn: far leaner than net/http,
// so one core of load generator outruns one core of server. GET paths come from a file
// (one per line); POST sends the bodies of a file (one per line) to one path. Targets are
// taken in turn (one order shared by every connection) or at random per request (-order).
//
// Usage:
//
//	loadgen -mode open -addr 127.0.0.1:8000 -paths paths.txt -rate 5000 -duration 30s \
//	    -connections 32 -header 'X-API-Key: dev-scorer'
//	loadgen -mode max -method POST -path /v1/features/batch -bodies bodies.jsonl ...
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand"
	"net"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// waiter blocks the scheduler until the next send time.
type waiter interface {
	wait(d time.Duration)
	name() string
}

type sleepWaiter struct{}

func (sleepWaiter) wait(d time.Duration) { time.Sleep(d) }
func (sleepWaiter) name() string         { return "go-sleep (about 1 ms granularity)" }

type headerList []string

func (h *headerList) String() string     { return strings.Join(*h, ", ") }
func (h *headerList) Set(v string) error { *h = append(*h, v); return nil }

type config struct {
	mode        string
	addr        string
	method      string
	pathsFile   string
	path        string
	bodiesFile  string
	order       string
	headers     headerList
	rate        float64
	duration    time.Duration
	connections int
	timeout     time.Duration
	drain       time.Duration
	procs       int
	seed        int64
}

// targets are the request paths (GET) or the bodies sent to one path (POST).
type targets struct {
	paths  [][]byte
	bodies [][]byte
}

func (t *targets) len() int {
	if t.bodies != nil {
		return len(t.bodies)
	}
	return len(t.paths)
}

func (t *targets) at(i int) (path, body []byte) {
	if t.bodies != nil {
		return t.paths[0], t.bodies[i]
	}
	return t.paths[i], nil
}

func readLines(name string) ([][]byte, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var lines [][]byte
	for _, line := range bytes.Split(data, []byte("\n")) {
		if line = bytes.TrimRight(line, "\r"); len(line) > 0 {
			lines = append(lines, line)
		}
	}
	if len(lines) == 0 {
		return nil, fmt.Errorf("%s has no lines", name)
	}
	return lines, nil
}

// errorCounts are failed requests by kind.
type errorCounts struct {
	Status  int64 `json:"status"`  // a complete response with a non-2xx status
	Socket  int64 `json:"socket"`  // connect, write or read failed, or a malformed response
	Timeout int64 `json:"timeout"` // no complete response within -timeout of the send
	Unsent  int64 `json:"unsent"`  // open loop: still queued when the drain time ran out
}

func (e *errorCounts) add(o errorCounts) {
	e.Status += o.Status
	e.Socket += o.Socket
	e.Timeout += o.Timeout
	e.Unsent += o.Unsent
}

// worker owns one keep-alive connection.
type worker struct {
	cfg      *config
	tmpl     requestTemplate
	targets  *targets
	conn     net.Conn
	reader   *bufio.Reader
	buf      []byte
	rng      *rand.Rand
	turn     *atomic.Int64 // shared by every connection: roundrobin is one order for the run
	latency  []int64       // ns, complete responses only
	errs     errorCounts
	codes    map[int]int64
	body     int64
	lastDone time.Duration
}

func (w *worker) connect() error {
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
	conn, err := net.DialTimeout("tcp", w.cfg.addr, w.cfg.timeout)
	if err != nil {
		return err
	}
	w.conn = conn
	if w.reader == nil {
		w.reader = bufio.NewReaderSize(conn, 64<<10)
	} else {
		w.reader.Reset(conn)
	}
	return nil
}

func (w *worker) pick() (path, body []byte) {
	n := w.targets.len()
	if w.cfg.order == "random" {
		return w.targets.at(w.rng.Intn(n))
	}
	return w.targets.at(int((w.turn.Add(1) - 1) % int64(n)))
}

// do sends one request and reads its response; false if it failed (counted by kind).
func (w *worker) do() bool {
	if w.conn == nil {
		if err := w.connect(); err != nil {
			w.countError(err)
			return false
		}
	}
	path, body := w.pick()
	w.buf = w.tmpl.appendRequest(w.buf[:0], path, body)
	w.conn.SetDeadline(time.Now().Add(w.cfg.timeout))
	if _, err := w.conn.Write(w.buf); err != nil {
		w.countError(err)
		w.conn.Close()
		w.conn = nil
		return false
	}
	resp, err := readResponse(w.reader)
	if err != nil {
		w.countError(err)
		w.conn.Close()
		w.conn = nil
		return false
	}
	w.codes[resp.status]++
	w.body += int64(resp.bodyBytes)
	if resp.status < 200 || resp.status > 299 {
		w.errs.Status++
	}
	if resp.close {
		w.conn.Close()
		w.conn = nil
	}
	return true
}

func (w *worker) countError(err error) {
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		w.errs.Timeout++
	} else {
		w.errs.Socket++
	}
}

// schedule is the send time of request i at rate requests/s, from the start.
func schedule(i int, rate float64) time.Duration {
	return time.Duration(math.Round(float64(i) * 1e9 / rate))
}

// runOpen sends rate*duration requests at their scheduled times; latency from the
// scheduled time. Returns the scheduler's lateness at each wake-up (ns).
func runOpen(cfg *config, workers []*worker) (elapsed time.Duration, lag []int64, timer string) {
	total := int(math.Round(cfg.rate * cfg.duration.Seconds()))
	queue := make(chan time.Duration, total)
	start := time.Now().Add(50 * time.Millisecond)
	wait := newWaiter()
	timer = wait.name()
	go func() {
		defer close(queue)
		for i := 0; i < total; {
			now := time.Since(start)
			due := schedule(i, cfg.rate)
			if due > now {
				wait.wait(due - now)
				continue
			}
			lag = append(lag, int64(now-due))
			for ; i < total && schedule(i, cfg.rate) <= now; i++ {
				queue <- schedule(i, cfg.rate)
			}
		}
	}()
	stopAt := cfg.duration + cfg.drain
	var group sync.WaitGroup
	for _, w := range workers {
		group.Add(1)
		go func(w *worker) {
			defer group.Done()
			for due := range queue {
				if time.Since(start) > stopAt {
					w.errs.Unsent++
					continue
				}
				ok := w.do()
				done := time.Since(start)
				if ok {
					w.latency = append(w.latency, int64(done-due))
				}
				w.lastDone = done
			}
		}(w)
	}
	group.Wait()
	for _, w := range workers {
		elapsed = max(elapsed, w.lastDone)
	}
	return elapsed, lag, timer
}

// runMax keeps every connection busy for the duration; latency from the send.
func runMax(cfg *config, workers []*worker) time.Duration {
	start := time.Now()
	end := start.Add(cfg.duration)
	var group sync.WaitGroup
	for _, w := range workers {
		group.Add(1)
		go func(w *worker) {
			defer group.Done()
			for {
				sent := time.Now()
				if !sent.Before(end) {
					return
				}
				if w.do() {
					w.latency = append(w.latency, int64(time.Since(sent)))
				}
			}
		}(w)
	}
	group.Wait()
	return time.Since(start)
}

// percentile is the nearest-rank q-th percentile of sorted values (q in 0..100).
func percentile(sorted []int64, q float64) int64 {
	if len(sorted) == 0 {
		return 0
	}
	// The epsilon keeps float error (99.9/100*1000 = 999.0000000000001) off the next rank.
	rank := int(math.Ceil(q/100*float64(len(sorted))-1e-9)) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func micros(ns int64) float64 { return math.Round(float64(ns)/100) / 10 }

// latencySummary is p50/p90/p99/p99.9/max in microseconds (null without samples).
func latencySummary(sorted []int64) map[string]*float64 {
	out := map[string]*float64{}
	for _, q := range []struct {
		name string
		q    float64
	}{{"p50", 50}, {"p90", 90}, {"p99", 99}, {"p99.9", 99.9}, {"max", 100}} {
		if len(sorted) > 0 {
			v := micros(percentile(sorted, q.q))
			out[q.name] = &v
		} else {
			out[q.name] = nil
		}
	}
	return out
}

type result struct {
	Mode           string              `json:"mode"`
	Method         string              `json:"method"`
	TargetRPS      *float64            `json:"target_rps"`
	AchievedRPS    float64             `json:"achieved_rps"`
	Requests       int64               `json:"requests"`
	DurationS      float64             `json:"duration_s"`
	ElapsedS       float64             `json:"elapsed_s"`
	Connections    int                 `json:"connections"`
	Errors         errorCounts         `json:"errors"`
	StatusCodes    map[string]int64    `json:"status_codes"`
	LatencyUS      map[string]*float64 `json:"latency_us"`
	LatencyFrom    string              `json:"latency_from"`
	FellBehind     bool                `json:"fell_behind"`
	SchedulerLagUS map[string]*float64 `json:"scheduler_lag_us,omitempty"`
	Timer          string              `json:"timer,omitempty"`
	BodyBytesMean  float64             `json:"body_bytes_mean"`
	GoMaxProcs     int                 `json:"gomaxprocs"`
	ClientCPUS     float64             `json:"client_cpu_s"`
	ClientCPUShare float64             `json:"client_cpu_share"`
}

func cpuSeconds() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return math.NaN()
	}
	return float64(usage.Utime.Nano()+usage.Stime.Nano()) / 1e9
}

func run(cfg *config) (*result, error) {
	tg := &targets{}
	var err error
	if cfg.method == "POST" {
		if cfg.path == "" || cfg.bodiesFile == "" {
			return nil, errors.New("POST needs -path and -bodies")
		}
		tg.paths = [][]byte{[]byte(cfg.path)}
		if tg.bodies, err = readLines(cfg.bodiesFile); err != nil {
			return nil, err
		}
	} else if tg.paths, err = readLines(cfg.pathsFile); err != nil {
		return nil, err
	}
	tmpl := newRequestTemplate(cfg.method, cfg.addr, cfg.headers)
	workers := make([]*worker, cfg.connections)
	turn := new(atomic.Int64)
	for i := range workers {
		w := &worker{
			cfg: cfg, tmpl: tmpl, targets: tg, codes: map[int]int64{},
			rng:  rand.New(rand.NewSource(cfg.seed + int64(i))),
			turn: turn,
		}
		if err := w.connect(); err != nil {
			return nil, fmt.Errorf("connect to %s: %w", cfg.addr, err)
		}
		workers[i] = w
	}
	cpuBefore := cpuSeconds()
	out := &result{
		Mode: cfg.mode, Method: cfg.method, DurationS: cfg.duration.Seconds(),
		Connections: cfg.connections, StatusCodes: map[string]int64{},
		GoMaxProcs: runtime.GOMAXPROCS(0),
	}
	var elapsed time.Duration
	switch cfg.mode {
	case "open":
		var lag []int64
		elapsed, lag, out.Timer = runOpen(cfg, workers)
		slices.Sort(lag)
		out.SchedulerLagUS = latencySummary(lag)
		rate := cfg.rate
		out.TargetRPS = &rate
		out.LatencyFrom = "scheduled send time"
	case "max":
		elapsed = runMax(cfg, workers)
		out.LatencyFrom = "send"
	default:
		return nil, fmt.Errorf("unknown -mode %q (open or max)", cfg.mode)
	}
	out.ClientCPUS = math.Round((cpuSeconds()-cpuBefore)*1000) / 1000
	var latency []int64
	var body int64
	for _, w := range workers {
		if w.conn != nil {
			w.conn.Close()
		}
		latency = append(latency, w.latency...)
		out.Errors.add(w.errs)
		for code, n := range w.codes {
			out.StatusCodes[fmt.Sprint(code)] += n
		}
		body += w.body
	}
	slices.Sort(latency)
	out.Requests = int64(len(latency))
	out.ElapsedS = math.Round(elapsed.Seconds()*1000) / 1000
	if elapsed > 0 {
		out.AchievedRPS = math.Round(float64(len(latency))/elapsed.Seconds()*10) / 10
		out.ClientCPUShare = math.Round(out.ClientCPUS/elapsed.Seconds()*1000) / 1000
	}
	if len(latency) > 0 {
		out.BodyBytesMean = math.Round(float64(body)/float64(len(latency))*10) / 10
	}
	out.LatencyUS = latencySummary(latency)
	out.FellBehind = out.TargetRPS != nil && out.AchievedRPS < 0.95**out.TargetRPS
	return out, nil
}

func main() {
	cfg := &config{}
	flag.StringVar(&cfg.mode, "mode", "open", "open (constant rate) or max (closed loop)")
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:8000", "server host:port")
	flag.StringVar(&cfg.method, "method", "GET", "GET or POST")
	flag.StringVar(&cfg.pathsFile, "paths", "", "GET: file of request paths, one per line")
	flag.StringVar(&cfg.path, "path", "", "POST: the request path")
	flag.StringVar(&cfg.bodiesFile, "bodies", "", "POST: file of JSON bodies, one per line")
	flag.StringVar(&cfg.order, "order", "random", "random or roundrobin over the paths/bodies")
	flag.Var(&cfg.headers, "header", "extra request header 'Name: value' (repeatable)")
	flag.Float64Var(&cfg.rate, "rate", 1000, "open: requests per second")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "how long to send")
	flag.IntVar(&cfg.connections, "connections", 16, "keep-alive connections")
	flag.DurationVar(&cfg.timeout, "timeout", 5*time.Second, "per request, from the send")
	flag.DurationVar(&cfg.drain, "drain", 10*time.Second,
		"open: after the schedule ends, how long queued requests may still be sent")
	flag.IntVar(&cfg.procs, "procs", 1, "GOMAXPROCS")
	flag.Int64Var(&cfg.seed, "seed", 1, "seed of the random order")
	flag.Parse()
	runtime.GOMAXPROCS(cfg.procs)
	cfg.method = strings.ToUpper(cfg.method)
	if cfg.connections < 1 || cfg.rate <= 0 || cfg.duration <= 0 {
		fmt.Fprintln(os.Stderr, "loadgen: -connections, -rate and -duration must be positive")
		os.Exit(2)
	}
	out, err := run(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
	enc := json.NewEncoder(os.Stdout)
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}
