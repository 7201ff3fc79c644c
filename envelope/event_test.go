package envelope_test

import (
	"errors"
	"testing"

	"github.com/hookbox/hookbox"
	"github.com/hookbox/hookbox/envelope"
)

// TestParseEvent_OK ensures that every envelope field lands in its event
// field and that Body is the body given.
func TestParseEvent_OK(t *testing.T) {
	body := []byte(`{"id":"evt_1","object":"event","type":"invoice.paid","created":1700000000,"livemode":true,"account":"acct_1","api_version":"2024-06-20","data":{"object":{"id":"in_1"}}}`)
	ev, err := envelope.ParseEvent(body)
	if err != nil {
		t.Fatal(err)
	}
	want := hookbox.Event{ID: "evt_1", Type: "invoice.paid", Object: "event", Created: 1700000000, Livemode: true, Account: "acct_1", APIVersion: "2024-06-20", ObjectID: "in_1"}
	got := *ev
	got.Body = nil
	if got.ID != want.ID || got.Type != want.Type || got.Object != want.Object || got.Created != want.Created ||
		got.Livemode != want.Livemode || got.Account != want.Account || got.APIVersion != want.APIVersion ||
		got.ObjectID != want.ObjectID {
		t.Errorf("ParseEvent = %+v, want %+v", got, want)
	}
	if &ev.Body[0] != &body[0] || len(ev.Body) != len(body) {
		t.Error("Body is not the body given")
	}
}

// TestParseEvent_ErrInvalid ensures that what Parse rejects, and an id or
// type holding a control character (escaped or not), is rejected with
// ErrInvalid.
func TestParseEvent_ErrInvalid(t *testing.T) {
	for _, body := range []string{
		`{"type":"a.b"}`,
		`[]`,
		`{"id":"evt_\u0000","type":"a.b"}`,
		`{"id":"evt_1","type":"a.b\u001f"}`,
		"{\"id\":\"evt_1\",\"type\":\"a.b\x7f\"}",
		`{"id":"evt_\u007f","type":"a.b"}`,
	} {
		if ev, err := envelope.ParseEvent([]byte(body)); !errors.Is(err, envelope.ErrInvalid) {
			t.Errorf("ParseEvent(%s) = %+v, %v; want ErrInvalid", body, ev, err)
		}
	}
}
