package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"vigil/internal/fixture"
	"vigil/model"
)

// testBundle returns a bundle of every event of a store of n events (300:
// more than one stored Merkle node) and its verifier key.
func testBundle(t testing.TB, n int) ([]byte, string) {
	t.Helper()
	ctx := context.Background()
	s := openTest(t)
	appendN(t, s, n, 7)
	key := fixture.CheckpointKey(t, "bundle.example/vigil")
	cp, err := s.CreateCheckpoint(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	f := model.EventFilter{Visibility: model.VisibilityFor(model.User{Role: model.RoleAuditor})}
	if _, err := s.WriteBundle(ctx, &buf, BundleRequest{Signed: cp, Filter: f}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), key.PublicKey()
}

// FuzzVerifyBundle changes one value of one event's content in a bundle
// and expects VerifyBundle to refuse it naming that event; random bytes
// never make it panic.
func FuzzVerifyBundle(f *testing.F) {
	data, vkey := testBundle(f, 300)
	if rep, err := VerifyBundle(bytes.NewReader(data), vkey); err != nil || rep.Count != 300 || !rep.Contiguous {
		f.Fatalf("untouched bundle: %+v %v", rep, err)
	}
	f.Add(uint16(5), uint8(26), "changed message", false)
	f.Add(uint16(299), uint8(0), "", false)
	f.Add(uint16(256), uint8(3), "12345", false)
	f.Add(uint16(17), uint8(27), `{"a":1}`, false)
	f.Add(uint16(0), uint8(0), `{"format":"vigil-bundle/1","checkpoint":"x","events":[{"id":1}]}`, true)
	f.Fuzz(func(t *testing.T, idx uint16, field uint8, val string, raw bool) {
		if raw {
			VerifyBundle(strings.NewReader(val), vkey) // must not panic
			return
		}
		checkChangeNamed(t, data, vkey, int(idx), int(field), val)
	})
}

// checkChangeNamed changes field of event idx of the bundle data to val
// (for a number, a number made from it) and expects VerifyBundle to refuse
// it naming that event.
func checkChangeNamed(t *testing.T, data []byte, vkey string, idx, field int, val string) {
	t.Helper()
	var b Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		t.Fatal(err)
	}
	ev := &b.Events[idx%len(b.Events)]
	field %= reflect.TypeOf(CanonicalEvent{}).NumField()
	v := reflect.ValueOf(ev.Event).Elem().Field(field)
	switch v.Kind() {
	case reflect.String:
		if v.String() == val {
			return
		}
		v.SetString(val)
	case reflect.Int64:
		n := int64(len(val))*1_000_003 + 1
		if v.Int() == n {
			return
		}
		v.SetInt(n)
	}
	changed, _ := json.Marshal(b)
	_, err := VerifyBundle(bytes.NewReader(changed), vkey)
	if want := fmt.Sprintf("event %d ", ev.ID); err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("event %d's %s changed to %q: %v, want an error naming it", ev.ID, reflect.TypeOf(CanonicalEvent{}).Field(field).Name, val, err)
	}
}

// TestVerifyBundleNamesEveryChangedField: every field of the canonical
// form is covered: a change to any of them is refused, naming the event.
func TestVerifyBundleNamesEveryChangedField(t *testing.T) {
	data, vkey := testBundle(t, 20)
	for i := 0; i < reflect.TypeOf(CanonicalEvent{}).NumField(); i++ {
		checkChangeNamed(t, data, vkey, 7, i, "changed")
	}
}
