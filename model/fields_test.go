package model

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestEventFieldsCoverEvent: every field of Event (but Sender, which is
// not stored) is in EventFields exactly once, and each entry reads and
// sets the struct field it names, so a new field cannot be left out of
// the CSV export, the detail view or the syslog mapping by mistake.
func TestEventFieldsCoverEvent(t *testing.T) {
	notListed := map[string]bool{"Sender": true}
	var paths []string
	var walk func(typ reflect.Type, prefix string)
	walk = func(typ reflect.Type, prefix string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Time{}) {
				walk(f.Type, prefix+f.Name+".")
				continue
			}
			paths = append(paths, prefix+f.Name)
		}
	}
	walk(reflect.TypeOf(Event{}), "")

	byGo := map[string]EventField{}
	names, columns := map[string]bool{}, map[string]bool{}
	for _, f := range EventFields {
		if _, dup := byGo[f.Go]; dup || names[f.Name] || columns[f.CSV] {
			t.Errorf("field %s (%s, column %q) listed twice", f.Name, f.Go, f.CSV)
		}
		byGo[f.Go], names[f.Name], columns[f.CSV] = f, true, true
		if f.Name == "" || f.CSV == "" || f.Text == nil {
			t.Errorf("field %+v lacks a name, a CSV column or its Text", f)
		}
		if (f.SD != "" || f.FreeText) && f.Ref == nil {
			t.Errorf("field %s is set from syslog or bounded as free text but has no Ref", f.Name)
		}
	}
	for _, p := range paths {
		f, ok := byGo[p]
		switch {
		case notListed[p]:
			if ok {
				t.Errorf("Event.%s is listed but should not be", p)
			}
			continue
		case !ok:
			t.Errorf("Event.%s is not in EventFields", p)
			continue
		}
		delete(byGo, p)
		var e Event
		v := reflect.ValueOf(&e).Elem().FieldByName(strings.Split(p, ".")[0])
		if i := strings.IndexByte(p, '.'); i > 0 {
			v = v.FieldByName(p[i+1:])
		}
		if v.Kind() != reflect.String {
			if f.Ref != nil {
				t.Errorf("%s: Ref set on a %s field", f.Name, v.Kind())
			}
			continue
		}
		if f.Ref == nil {
			t.Errorf("%s: a string field without Ref", f.Name)
			continue
		}
		v.SetString("value of " + p)
		if got := f.Text(&e); got != "value of "+p {
			t.Errorf("%s: Text reads %q, want the value of Event.%s", f.Name, got, p)
		}
		if f.Ref(&e) != v.Addr().Interface().(*string) {
			t.Errorf("%s: Ref is not Event.%s", f.Name, p)
		}
	}
	for p := range byGo {
		t.Errorf("EventFields lists %s, which Event does not have", p)
	}
}

// TestNormalizeFieldError: each refused value is a *FieldError naming
// the field as EventFields does, with the reason apart from the name.
func TestNormalizeFieldError(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	long := strings.Repeat("x", MaxFieldLen+1)
	for _, tc := range []struct {
		name  string
		e     Event
		field string
	}{
		{"Category", Event{Category: "NOPE"}, "category"},
		{"ReservedCategory", Event{Category: CategorySystem, Source: SourceHTTP}, "category"},
		{"ActorIP", Event{Actor: Actor{IP: "not-an-ip"}}, "actor.ip"},
		{"ActorType", Event{Actor: Actor{Type: "ROBOT"}}, "actor.type"},
		{"Fingerprint", Event{Certificate: CertRef{Fingerprint: "ab"}}, "certificate.fingerprint"},
		{"LongTenant", Event{Tenant: long}, "tenant"},
		{"Time", Event{Time: time.Date(1500, 1, 1, 0, 0, 0, 0, time.UTC)}, "time"},
		{"LongMessage", Event{Message: strings.Repeat("m", MaxMessageLen+1)}, "message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.e.Normalize(now)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || fe.Reason == "" {
				t.Fatalf("error %#v, want a FieldError of %s", err, tc.field)
			}
			if err.Error() != tc.field+": "+fe.Reason {
				t.Errorf("text %q, want %q", err.Error(), tc.field+": "+fe.Reason)
			}
			if _, ok := EventFieldNamed(fe.Field); !ok {
				t.Errorf("field %q is not in EventFields", fe.Field)
			}
		})
	}
}
