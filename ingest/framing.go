package ingest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// Framing is how one syslog frame is delimited on a stream (RFC 6587).
type Framing int

// Framings of a frame, detected from its first bytes.
const (
	FramingUnknown        Framing = iota
	FramingOctetCounting          // "LEN SP MSG" (RFC 6587 §3.4.1, RFC 5425)
	FramingNonTransparent         // MSG LF, or MSG NUL (RFC 6587 §3.4.2)
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
// of each frame from its first bytes, so a connection may mix octet
// counting and line framing: digits and a space start an octet-counted
// frame, anything else is a line ending at LF, or at a NUL that ends a
// message (Python's SysLogHandler ends each message with NUL and no LF).
// A frame longer than Max is cut to its first Max bytes and the rest is
// skipped without being kept, so the next frame starts where the sender
// meant it to. The only framing errors are an octet count beyond
// MaxOctetCount (or of more than 10 digits) and a stream that ends inside
// an octet-counted frame: everything else is readable as a line.
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

// Framing returns the framing of the last frame read.
func (f *FrameReader) Framing() Framing { return f.framing }

// Next returns the next frame, valid until the following call. truncated
// is the frame's full length when it was longer than the maximum, else 0.
// At the clean end of the stream it returns io.EOF.
func (f *FrameReader) Next() (frame []byte, truncated int, err error) {
	for {
		if f.eof {
			return nil, 0, io.EOF
		}
		if err := f.skipSeparators(); err != nil {
			return nil, 0, err
		}
		f.startFrame()
		n, digits, err := f.octetCount()
		if err != nil {
			f.endFrame()
			return nil, 0, err
		}
		if digits > 0 {
			f.framing = FramingOctetCounting
			f.r.Discard(digits + 1)
			frame, truncated, err = f.readCounted(n)
		} else {
			f.framing = FramingNonTransparent
			frame, truncated, err = f.readLine()
		}
		f.endFrame()
		if err != nil || len(frame) > 0 || f.framing == FramingOctetCounting {
			return frame, truncated, err
		}
	}
}

// octetCount looks at the start of a frame: digits (not starting with 0)
// and a space are an octet count, n, of digits digits, unless the frame
// before was a line and no '<' follows; digits == 0 means the frame is a
// line. Only the bytes needed to decide are waited for.
func (f *FrameReader) octetCount() (n, digits int, err error) {
	b, _ := f.r.Peek(min(f.r.Buffered(), maxCountDigits+2)) // what has arrived: no wait
	for {
		if digits >= len(b) {
			var perr error
			if b, perr = f.r.Peek(digits + 1); len(b) <= digits {
				if digits > 0 && perr != nil && !errors.Is(perr, io.EOF) {
					return 0, 0, perr
				}
				return 0, 0, nil // digits then the end of the stream: a line
			}
		}
		c := b[digits]
		switch {
		case c == ' ' && digits > 0:
			// After a line, "404 Not Found" is a line too: there a count
			// must be followed by a syslog message's '<'.
			if f.framing == FramingNonTransparent {
				if b, _ := f.r.Peek(digits + 2); len(b) < digits+2 || b[digits+1] != '<' {
					return 0, 0, nil
				}
			}
			if n > MaxOctetCount {
				return 0, 0, frameErrorf("octet count %d exceeds %d", n, MaxOctetCount)
			}
			return n, digits, nil
		case c < '0' || c > '9' || (digits == 0 && c == '0'):
			return 0, 0, nil
		case digits == maxCountDigits:
			return 0, 0, frameErrorf("octet count has more than %d digits", maxCountDigits)
		}
		n = n*10 + int(c-'0')
		digits++
	}
}

// skipSeparators skips CR, LF and NUL between frames; some octet-counting
// senders end each frame with a newline. It returns io.EOF at the end of
// the stream.
func (f *FrameReader) skipSeparators() error {
	for {
		b, err := f.r.ReadByte()
		if err != nil {
			return err
		}
		if !isSeparator(b) {
			return f.r.UnreadByte()
		}
	}
}

func isSeparator(b byte) bool { return b == '\n' || b == '\r' || b == 0 }

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

// readCounted reads the n bytes of an octet-counted frame.
func (f *FrameReader) readCounted(n int) ([]byte, int, error) {
	keep := min(n, f.max)
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
	frame := f.buf[:keep]
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

// readLine reads a line up to its end (see lineEnd), keeping at most max
// bytes. At the end of the stream, a last line without an end is still a
// frame. A line wholly in the reader's buffer is returned from it; a line
// arriving in parts is gathered in f.buf.
func (f *FrameReader) readLine() ([]byte, int, error) {
	total, gathered, last := 0, false, byte(0)
	f.buf = f.buf[:0]
	for {
		b, err := f.r.Peek(max(f.r.Buffered(), 1))
		if len(b) == 0 {
			if !errors.Is(err, io.EOF) {
				return nil, 0, err
			}
			f.eof = true
			return f.line(f.buf, total, false)
		}
		end, lf := lineEnd(b)
		if end < 0 {
			f.buf = append(f.buf, b[:min(len(b), max(f.max-len(f.buf), 0))]...)
			total, gathered, last = total+len(b), true, b[len(b)-1]
			f.r.Discard(len(b))
			continue
		}
		if end > 0 {
			last = b[end-1]
		}
		cr := lf && last == '\r'
		if !gathered {
			line, trunc, _ := f.line(b[:end], end, cr)
			f.r.Discard(end + 1)
			return line, trunc, nil
		}
		f.buf = append(f.buf, b[:min(end, max(f.max-len(f.buf), 0))]...)
		f.r.Discard(end + 1)
		return f.line(f.buf, total+end, cr)
	}
}

// line returns the kept bytes of a line of total bytes, without its last
// byte when that is the CR of a CR LF, cut to the maximum.
func (f *FrameReader) line(kept []byte, total int, cr bool) ([]byte, int, error) {
	if cr {
		total--
	}
	kept = kept[:min(len(kept), total)]
	if total > f.max {
		return kept[:f.max], total, nil
	}
	return kept, 0, nil
}

// lineEnd returns the index of the byte that ends the line starting b: the
// first LF, or an earlier NUL followed by what starts or separates frames
// ('<', CR, LF, NUL) or by nothing yet received. lf tells which. A NUL
// followed by other text is part of the line. It returns -1 when b holds
// no end.
func lineEnd(b []byte) (end int, lf bool) {
	i := bytes.IndexByte(b, '\n')
	head := b
	if i >= 0 {
		head = b[:i]
	}
	for off := 0; ; {
		j := bytes.IndexByte(head[off:], 0)
		if j < 0 {
			break
		}
		j += off
		if j+1 == len(b) || b[j+1] == '<' || isSeparator(b[j+1]) {
			return j, false
		}
		off = j + 1
	}
	return i, i >= 0
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
