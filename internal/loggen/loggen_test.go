package loggen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLineCounter counts the lines of a file as it grows, a line cut in
// the middle counted once it ends.
func TestLineCounter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.log")
	l := LineCounter{Path: path}
	if n := l.Count(); n != 0 {
		t.Fatalf("no file: %d lines", n)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct {
		write string
		want  int
	}{{"a\nb\n", 2}, {"half", 2}, {" line\n", 3}, {strings.Repeat("x\n", 3<<20), 3 + 3<<20}} {
		if _, err := f.WriteString(c.write); err != nil {
			t.Fatal(err)
		}
		if n := l.Count(); n != c.want {
			t.Errorf("after %.10q: %d lines, want %d", c.write, n, c.want)
		}
	}
}

// TestRunUnevenSplit: loggen's --number counts per connection, so a total
// that does not split evenly is refused before loggen runs.
func TestRunUnevenSplit(t *testing.T) {
	_, err := Run("/nonexistent/loggen", 1, Traffic{Messages: 11, Connections: 2, Size: 300})
	if err == nil || !strings.Contains(err.Error(), "do not split evenly") {
		t.Fatalf("error %v, want one about the split", err)
	}
}
