package ingest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// Framing is how syslog messages are delimited on a stream (RFC 6587).
type Framing int

// Framings of a stream, detected from its first bytes.
const (
	FramingUnknown        Framing = iota
	FramingOctetCounting          // "LEN SP MSG" (RFC 6587 §3.4.1, RFC 5425)
	FramingNonTransparent         // MSG LF (RFC 6587 §3.4.2)
)

func (f Framing) String() string {
	switch f {
	case FramingOctetCounting:
		return "octet-counting"
	case FramingNonTransparent:
		return "lf"
	}
	return "unknown"
}

// maxCountDigits bounds the digits of an octet count: more is a huge count.
const maxCountDigits = 10

// MaxOctetCount is the largest octet count a frame may declare (64 MiB,
// four times the largest --syslog-max-msg). A longer frame is cut to the
// maximum and the rest of it skipped; a count beyond this bound is no
// message any syslog sender writes but a corrupt or hostile stream, and
// skipping it would swallow whatever frames follow, so it is a framing
// error and the connection is closed.
const MaxOctetCount = 64 << 20

// FrameError is a framing violation; the stream cannot be resynchronized
// and its connection is closed.
type FrameError struct{ Reason string }

func (e *FrameError) Error() string { return "malformed frame: " + e.Reason }

func frameErrorf(format string, args ...any) error {
	return &FrameError{Reason: fmt.Sprintf(format, args...)}
}

// FrameReader splits a syslog stream into frames. It detects the framing
// from the first byte and keeps to it. A frame longer than Max is cut to its
// first Max bytes and the rest is skipped without being kept, so the next
// frame starts where the sender meant it to; an octet count beyond
// MaxOctetCount, or any malformed count, is an error.
type FrameReader struct {
	r       *bufio.Reader
	max     int
	framing Framing
	buf     []byte
	eof     bool

	// onFrameStart, if set, is called once the first byte of a frame has
	// arrived, and onFrameEnd once the frame is complete (frame timeouts).
	onFrameStart, onFrameEnd func()
}

// NewFrameReader returns a FrameReader of frames up to max bytes from r.
func NewFrameReader(r *bufio.Reader, max int) *FrameReader {
	return &FrameReader{r: r, max: max}
}

// Framing returns the framing detected so far.
func (f *FrameReader) Framing() Framing { return f.framing }

// Next returns the next frame, valid until the following call. truncated
// is the frame's full length when it was longer than the maximum, else 0.
// At the clean end of the stream it returns io.EOF.
func (f *FrameReader) Next() (frame []byte, truncated int, err error) {
	if f.eof {
		return nil, 0, io.EOF
	}
	if f.framing == FramingUnknown {
		if err := f.detect(); err != nil {
			return nil, 0, err
		}
	}
	if f.framing == FramingOctetCounting {
		return f.nextCounted()
	}
	return f.nextLine()
}

// detect chooses the framing from the first byte: a digit starts an octet
// count, anything else is a line. A zero or negative count is malformed.
func (f *FrameReader) detect() error {
	if err := f.skipNewlines(); err != nil {
		return err
	}
	b, err := f.r.Peek(2)
	if len(b) == 0 {
		return err
	}
	switch {
	case b[0] >= '1' && b[0] <= '9':
		f.framing = FramingOctetCounting
	case b[0] == '0':
		return frameErrorf("octet count starts with 0")
	case b[0] == '-' && len(b) > 1 && b[1] >= '0' && b[1] <= '9':
		return frameErrorf("negative octet count")
	default:
		f.framing = FramingNonTransparent
	}
	return nil
}

// skipNewlines skips CR and LF between frames; some octet-counting senders
// end each frame with a newline. It returns io.EOF at the end of the stream.
func (f *FrameReader) skipNewlines() error {
	for {
		b, err := f.r.ReadByte()
		if err != nil {
			return err
		}
		if b != '\n' && b != '\r' {
			return f.r.UnreadByte()
		}
	}
}

func (f *FrameReader) startFrame() {
	if f.onFrameStart != nil {
		f.onFrameStart()
	}
}

func (f *FrameReader) endFrame() {
	if f.onFrameEnd != nil {
		f.onFrameEnd()
	}
}

// unexpected turns an end of stream inside a frame into a FrameError.
func unexpected(err error, where string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return frameErrorf("stream ended inside %s", where)
	}
	return err
}

func (f *FrameReader) nextCounted() ([]byte, int, error) {
	if err := f.skipNewlines(); err != nil {
		return nil, 0, err
	}
	f.startFrame()
	defer f.endFrame()
	n, digits := 0, 0
	for {
		b, err := f.r.ReadByte()
		if err != nil {
			return nil, 0, unexpected(err, "an octet count")
		}
		if b == ' ' {
			break
		}
		switch {
		case b < '0' || b > '9':
			if digits == 0 {
				return nil, 0, frameErrorf("octet count expected, got %q", b)
			}
			return nil, 0, frameErrorf("octet count not followed by a space")
		case digits == 0 && b == '0':
			return nil, 0, frameErrorf("octet count starts with 0")
		}
		digits++
		if digits > maxCountDigits {
			return nil, 0, frameErrorf("octet count has more than %d digits", maxCountDigits)
		}
		n = n*10 + int(b-'0')
	}
	if digits == 0 {
		return nil, 0, frameErrorf("octet count missing before the space")
	}
	if n > MaxOctetCount {
		return nil, 0, frameErrorf("octet count %d exceeds %d", n, MaxOctetCount)
	}
	keep := min(n, f.max)
	var frame []byte
	if keep <= f.r.Size() && n == keep {
		b, err := f.r.Peek(keep)
		if err != nil {
			return nil, 0, unexpected(err, "a frame")
		}
		f.r.Discard(keep)
		return b, 0, nil
	}
	// Longer than the reader's buffer, or cut: read the kept part into
	// f.buf (skipping the rest overwrites the reader's buffer).
	if cap(f.buf) < keep {
		f.buf = make([]byte, keep)
	}
	frame = f.buf[:keep]
	if _, err := io.ReadFull(f.r, frame); err != nil {
		return nil, 0, unexpected(err, "a frame")
	}
	if n == keep {
		return frame, 0, nil
	}
	// Discard reads the rest through the reader's buffer: nothing of it
	// is kept, however long it is.
	if _, err := f.r.Discard(n - keep); err != nil {
		return nil, 0, unexpected(err, "a frame")
	}
	return frame, n, nil
}

func (f *FrameReader) nextLine() ([]byte, int, error) {
	for {
		if _, err := f.r.Peek(1); err != nil {
			return nil, 0, err
		}
		f.startFrame()
		frame, truncated, err := f.readLine()
		f.endFrame()
		if err != nil {
			return nil, 0, err
		}
		if len(frame) > 0 {
			return frame, truncated, nil
		}
	}
}

// readLine reads up to the next LF, keeping at most max bytes. At the end
// of the stream, a last line without LF is still a frame.
func (f *FrameReader) readLine() ([]byte, int, error) {
	chunk, err := f.r.ReadSlice('\n')
	switch {
	case err == nil:
	case errors.Is(err, io.EOF):
		f.eof = true
	case errors.Is(err, bufio.ErrBufferFull):
		return f.readLongLine(chunk)
	default:
		return nil, 0, err
	}
	line := trimEOL(chunk)
	if len(line) > f.max {
		return line[:f.max], len(line), nil
	}
	return line, 0, nil
}

// readLongLine finishes a line longer than the reader's buffer, whose
// first part is chunk, keeping its head in f.buf.
func (f *FrameReader) readLongLine(chunk []byte) ([]byte, int, error) {
	f.buf = append(f.buf[:0], chunk[:min(len(chunk), f.max)]...)
	total := len(chunk)
	for {
		var err error
		chunk, err = f.r.ReadSlice('\n')
		total += len(chunk)
		if room := f.max - len(f.buf); room > 0 {
			f.buf = append(f.buf, chunk[:min(room, len(chunk))]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			f.eof = true
		} else if err != nil {
			return nil, 0, err
		}
		break
	}
	lineLen := total - (len(chunk) - len(trimEOL(chunk)))
	if lineLen <= f.max {
		return trimEOL(f.buf), 0, nil
	}
	return f.buf[:f.max], lineLen, nil
}

// trimEOL removes one trailing LF and any CR before it.
func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}
