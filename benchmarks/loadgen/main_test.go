package main

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentileNearestRank(t *testing.T) {
	values := make([]int64, 1000)
	for i := range values {
		values[i] = int64(i + 1)
	}
	for _, c := range []struct {
		q    float64
		want int64
	}{{50, 500}, {90, 900}, {99, 990}, {99.9, 999}, {100, 1000}, {0, 1}} {
		if got := percentile(values, c.q); got != c.want {
			t.Errorf("p%g = %d, want %d", c.q, got, c.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("empty p50 = %d", got)
	}
}

func TestScheduleIsEvenlySpaced(t *testing.T) {
	if got := schedule(2500, 5000); got != 500*time.Millisecond {
		t.Errorf("request 2500 at 5k rps scheduled at %v", got)
	}
	if got := schedule(1, 3); got != 333333333*time.Nanosecond {
		t.Errorf("request 1 at 3 rps scheduled at %v", got)
	}
}

func TestReadResponseLengthAndChunked(t *testing.T) {
	raw := "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello" +
		"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
		"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"
	r := bufio.NewReader(strings.NewReader(raw))
	first, err := readResponse(r)
	if err != nil || first.status != 200 || first.bodyBytes != 5 || first.close {
		t.Fatalf("first response %+v, %v", first, err)
	}
	second, err := readResponse(r)
	if err != nil || second.status != 404 || second.bodyBytes != 5 || !second.close {
		t.Fatalf("second response %+v, %v", second, err)
	}
	if _, err := readResponse(bufio.NewReader(strings.NewReader("garbage\r\n\r\n"))); err == nil {
		t.Fatal("malformed response accepted")
	}
}

func TestOpenLoopAgainstServer(t *testing.T) {
	var seen atomic.Int64
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		if r.Header.Get("X-API-Key") != "k" || r.URL.Path == "/missing" {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		fmt.Fprint(w, `{"ok":true}`)
	}))
	defer server.Close()
	paths := filepath.Join(t.TempDir(), "paths.txt")
	if err := os.WriteFile(paths, []byte("/a\n/b\n/missing\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := &config{
		mode: "open", addr: server.Listener.Addr().(*net.TCPAddr).String(), method: "GET",
		pathsFile: paths, order: "roundrobin", headers: headerList{"X-API-Key: k"},
		rate: 600, duration: 500 * time.Millisecond, connections: 4,
		timeout: time.Second, drain: time.Second, procs: 1, seed: 1,
	}
	out, err := run(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if out.Requests != 300 || seen.Load() != 300 {
		t.Fatalf("requests %d (server saw %d), want 300", out.Requests, seen.Load())
	}
	if out.Errors.Status != 100 || out.Errors.Socket != 0 || out.StatusCodes["200"] != 200 {
		t.Fatalf("errors %+v codes %v, want 100 status errors", out.Errors, out.StatusCodes)
	}
	if out.FellBehind || *out.LatencyUS["p50"] <= 0 {
		t.Fatalf("fell behind or no latency: %+v", out)
	}
}
