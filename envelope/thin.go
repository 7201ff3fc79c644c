package envelope

import (
	"encoding/json"
	"fmt"

	"github.com/hookbox/hookbox"
)

// thinFields are what a thin notification (object "v2.core.event") adds to
// the envelope, as stripe-go's V2CoreEventNotification and its
// RelatedObject read them (encoding/json, so a consumer decoding the body
// with stripe-go reads the same values).
type thinFields struct {
	Context       *string `json:"context"`
	RelatedObject *struct {
		ID   *string `json:"id"`
		Type *string `json:"type"`
	} `json:"related_object"`
}

// Thin returns the context and related object of a thin notification's
// body, already accepted by Parse. A thin notification is a few hundred
// bytes, so a reflective decode costs little; a snapshot body is never
// given to it. Absent or null fields give "". A context or related object
// field that is not a string, longer than MaxFieldLen or holding a control
// character is refused with ErrInvalid: they go to database columns and to
// the Stripe-Context header of the fetch.
func Thin(body []byte) (context string, rel hookbox.RelatedObject, err error) {
	var f thinFields
	if err := json.Unmarshal(body, &f); err != nil {
		return "", rel, fmt.Errorf("%w: thin notification: %v", ErrInvalid, err)
	}
	get := func(name string, p *string) (string, error) {
		if p == nil {
			return "", nil
		}
		if len(*p) > MaxFieldLen || hasControl(*p) {
			return "", fmt.Errorf("%w: thin notification: %s is too long or holds a control character", ErrInvalid, name)
		}
		return *p, nil
	}
	if context, err = get("context", f.Context); err != nil {
		return "", rel, err
	}
	if f.RelatedObject != nil {
		if rel.ID, err = get("related_object.id", f.RelatedObject.ID); err != nil {
			return "", rel, err
		}
		if rel.Type, err = get("related_object.type", f.RelatedObject.Type); err != nil {
			return "", rel, err
		}
	}
	return context, rel, nil
}
