package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"

	"vigil/model"
)

// DefaultMaxBatchEvents is the default cap on the events of one HTTP
// request.
const DefaultMaxBatchEvents = 10_000

// ErrTooManyEvents reports a body holding more events than the cap.
var ErrTooManyEvents = errors.New("too many events")

// DecodeBatch reads the body of an HTTP request of events from r and
// decodes each item as it arrives: NDJSON line by line, otherwise a JSON array or a stream of JSON
// objects (one object is a stream of one). It stops reading at the first
// item past maxEvents and returns ErrTooManyEvents, so what it holds is
// bounded by the cap, not by the body. An error reading r is returned as
// it is. An item that is not a valid event is reported in items and the
// rest is still read, up to a JSON syntax error that makes the rest
// unreadable.
func DecodeBatch(r io.Reader, ndjson bool, maxEvents int, now time.Time) ([]model.Event, []model.ItemError, error) {
	er := &errReader{r: r}
	b := &batch{max: maxEvents, now: now}
	var err error
	if ndjson {
		err = b.readLines(bufio.NewReaderSize(er, 64<<10))
	} else {
		err = b.readJSON(bufio.NewReader(er))
	}
	if er.err != nil {
		return nil, nil, er.err
	}
	if err != nil {
		return nil, nil, err
	}
	return b.events, b.items, nil
}

// batch collects the events and item errors of one body.
type batch struct {
	max    int
	now    time.Time
	n      int // items seen
	events []model.Event
	items  []model.ItemError
}

// add decodes the next item, or refuses it when the cap is reached.
func (b *batch) add(raw []byte) error {
	if b.n == b.max {
		return ErrTooManyEvents
	}
	if e, bad := decodeItem(b.n, raw, b.now); bad != nil {
		b.items = append(b.items, *bad)
	} else {
		b.events = append(b.events, e)
	}
	b.n++
	return nil
}

// bad reports a syntax error in the item being read.
func (b *batch) bad(reason string) {
	b.items = append(b.items, model.ItemError{Index: b.n, Reason: reason})
}

// readLines adds each non-blank line of br.
func (b *batch) readLines(br *bufio.Reader) error {
	var long []byte // a line longer than br's buffer
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
			}
			line = long
		}
		if line = bytes.TrimSpace(line); len(line) > 0 {
			if aerr := b.add(line); aerr != nil {
				return aerr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readJSON adds each element of a JSON array, or each value of a stream
// of JSON values. A syntax error is reported as the item it is in and ends
// the reading.
func (b *batch) readJSON(br *bufio.Reader) error {
	first, err := firstNonSpace(br)
	if errors.Is(err, io.EOF) {
		return nil // an empty body
	}
	if err != nil {
		return err
	}
	dec := json.NewDecoder(br)
	if first != '[' {
		for {
			var raw json.RawMessage
			err := dec.Decode(&raw)
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				b.bad("not valid JSON: " + jsonReason(err) + " (the rest of the body was not read)")
				return nil
			}
			if err := b.add(raw); err != nil {
				return err
			}
		}
	}
	const notArray = "body is not a valid JSON array: "
	if _, err := dec.Token(); err != nil { // [
		b.bad(notArray + jsonReason(err))
		return nil
	}
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			b.bad(notArray + jsonReason(err))
			return nil
		}
		if err := b.add(raw); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // ]
		b.bad(notArray + jsonReason(err))
		return nil
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		reason := "data after the closing ]"
		if err != nil {
			reason = jsonReason(err)
		}
		b.bad(notArray + reason)
	}
	return nil
}

// firstNonSpace skips leading white space and returns, without consuming
// it, the first other byte.
func firstNonSpace(br *bufio.Reader) (byte, error) {
	for {
		c, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		if !strings.ContainsRune(" \t\r\n", rune(c)) {
			return c, br.UnreadByte()
		}
	}
}

// decodeItem decodes the item at index as an event.
func decodeItem(index int, raw []byte, now time.Time) (model.Event, *model.ItemError) {
	if len(raw) == 0 || raw[0] != '{' {
		reason := "each event must be a JSON object"
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			reason = "not valid JSON: " + jsonReason(err)
		}
		return model.Event{}, &model.ItemError{Index: index, Reason: reason}
	}
	e, err := model.DecodeEvent(raw, now)
	if err != nil {
		return model.Event{}, &model.ItemError{Index: index, Reason: err.Error()}
	}
	return e, nil
}

func jsonReason(err error) string { return model.JSONReason(err) }

// errReader keeps the first error reading r other than io.EOF, so that a
// failed read (a body over the size limit, a client gone) is told apart
// from a syntax error in what was read.
type errReader struct {
	r   io.Reader
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !errors.Is(err, io.EOF) && e.err == nil {
		e.err = err
	}
	return n, err
}
