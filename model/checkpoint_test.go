package model

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func testKey(t testing.TB) *CheckpointKey {
	text, err := NewCheckpointKeyText("box.example/vigil/abc")
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseCheckpointKey(text)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCheckpointRoundTrip(t *testing.T) {
	k := testKey(t)
	cp := Checkpoint{Size: 1234, Root: bytes.Repeat([]byte{7}, 32), Time: time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)}
	note, err := k.Sign(cp)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(note, "box.example/vigil/abc\n1234\nBwcH") || !strings.Contains(note, "\n\n— box.example/vigil/abc ") {
		t.Fatalf("note is not a C2SP checkpoint:\n%s", note)
	}
	got, err := OpenCheckpoint([]byte(note), k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	if got.Size != 1234 || !bytes.Equal(got.Root, cp.Root) || !got.Time.Equal(cp.Time) || got.Origin != k.Origin() {
		t.Fatalf("opened %+v", got)
	}
	other := testKey(t)
	if _, err := OpenCheckpoint([]byte(note), other.PublicKey()); err == nil {
		t.Fatal("a checkpoint opened with another appliance's key")
	}
	for _, forged := range []string{
		strings.Replace(note, "\n1234\n", "\n1235\n", 1),
		strings.Replace(note, "BwcH", "CAcH", 1),
		strings.Replace(note, "time 2026", "time 2027", 1),
	} {
		if _, err := OpenCheckpoint([]byte(forged), k.PublicKey()); err == nil {
			t.Fatalf("forged checkpoint accepted:\n%s", forged)
		}
	}
}

// FuzzOpenCheckpoint feeds arbitrary notes to the checkpoint verifier: it
// must never panic, and must accept nothing but a note this key signed.
func FuzzOpenCheckpoint(f *testing.F) {
	k := testKey(f)
	genuine, _ := k.Sign(Checkpoint{Size: 42, Root: bytes.Repeat([]byte{1}, 32), Time: time.Unix(1e9, 0)})
	f.Add([]byte(genuine))
	f.Add([]byte("box.example/vigil/abc\n42\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n\n— box.example/vigil/abc AAAA\n"))
	f.Add([]byte(""))
	f.Add([]byte("\n\n\n"))
	f.Fuzz(func(t *testing.T, note []byte) {
		cp, err := OpenCheckpoint(note, k.PublicKey())
		if err != nil {
			return
		}
		// Accepted: it must carry the genuine signed text.
		if string(note) != genuine || cp.Size != 42 {
			t.Fatalf("accepted a note that was not signed:\n%q", note)
		}
	})
}
