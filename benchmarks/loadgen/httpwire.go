package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// errMalformed is a response the minimal parser does not understand; it counts as a
// socket error and the connection is replaced.
var errMalformed = errors.New("malformed HTTP response")

// requestTemplate writes HTTP/1.1 requests without allocating per request: the request
// line, the fixed header block, and for POST the body with its Content-Length.
type requestTemplate struct {
	method []byte
	header []byte // "Host: ...\r\n" plus the extra headers, each ending in CRLF
}

func newRequestTemplate(method, host string, headers []string) requestTemplate {
	var block bytes.Buffer
	fmt.Fprintf(&block, "Host: %s\r\n", host)
	for _, h := range headers {
		block.WriteString(h)
		block.WriteString("\r\n")
	}
	return requestTemplate{method: []byte(method), header: block.Bytes()}
}

// appendRequest appends one request for path (and body, for POST) to buf.
func (t requestTemplate) appendRequest(buf, path, body []byte) []byte {
	buf = append(buf, t.method...)
	buf = append(buf, ' ')
	buf = append(buf, path...)
	buf = append(buf, " HTTP/1.1\r\n"...)
	buf = append(buf, t.header...)
	if body != nil {
		buf = append(buf, "Content-Type: application/json\r\nContent-Length: "...)
		buf = strconv.AppendInt(buf, int64(len(body)), 10)
		buf = append(buf, "\r\n\r\n"...)
		return append(buf, body...)
	}
	return append(buf, "\r\n"...)
}

// response is what the load generator needs from one response.
type response struct {
	status    int
	bodyBytes int
	close     bool // the server said Connection: close
}

// readResponse reads one response: the status line, the headers (Content-Length,
// Transfer-Encoding: chunked, Connection: close) and the body, which it discards.
// Responses without a length (read to close) are not supported: servers answering
// keep-alive requests send one.
func readResponse(r *bufio.Reader) (response, error) {
	var out response
	line, err := r.ReadSlice('\n')
	if err != nil {
		return out, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return out, errMalformed
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return out, errMalformed
	}
	out.status = status
	length, chunked := -1, false
	for {
		line, err = r.ReadSlice('\n')
		if err != nil {
			return out, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			return out, errMalformed
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("content-length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return out, errMalformed
			}
		case bytes.EqualFold(name, []byte("transfer-encoding")):
			chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case bytes.EqualFold(name, []byte("connection")):
			out.close = bytes.EqualFold(value, []byte("close"))
		}
	}
	switch {
	case chunked:
		out.bodyBytes, err = discardChunked(r)
		return out, err
	case length >= 0:
		out.bodyBytes = length
		_, err = r.Discard(length)
		return out, err
	case status == 204 || status == 304 || status < 200:
		return out, nil
	default:
		return out, errMalformed
	}
}

// discardChunked reads a chunked body and its trailers; the body's size.
func discardChunked(r *bufio.Reader) (int, error) {
	total := 0
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return total, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if semi := bytes.IndexByte(line, ';'); semi >= 0 {
			line = line[:semi]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || size < 0 {
			return total, errMalformed
		}
		if size == 0 {
			for { // trailers up to the empty line
				line, err = r.ReadSlice('\n')
				if err != nil {
					return total, err
				}
				if len(bytes.TrimRight(line, "\r\n")) == 0 {
					return total, nil
				}
			}
		}
		if _, err = r.Discard(int(size) + 2); err != nil {
			return total, err
		}
		total += int(size)
	}
}
