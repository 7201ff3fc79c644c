package hookbox

import (
	"regexp"
	"strings"
)

// APIVersion is the Stripe API version a consumer of events understands:
// an exact version ("2026-07-29.dahlia") or a release train ("dahlia").
// The zero value states nothing: every version is compatible.
//
// Stripe renders each event in one API version. Since 2024-09-30.acacia
// versions come in release trains: monthly releases inside a train make no
// breaking change, a new train does. Compatible decides as stripe-go's
// webhook.ConstructEvent does (its isCompatibleAPIVersion): same train, or
// the exact version for a preview one.
type APIVersion string

var (
	exactVersion = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}\.[a-z][a-z0-9_]*$`)
	trainName    = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)
)

// previewTrain is the train of preview versions, which only match
// exactly.
const previewTrain = "preview"

// ParseAPIVersion parses an exact version (YYYY-MM-DD.train) or a bare
// release train name. "" is the zero APIVersion. A version without a
// train (2023-10-16, from before trains), a bare "preview" (a preview is
// only ever matched exactly) or anything else is an error coded EINVALID.
func ParseAPIVersion(s string) (APIVersion, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", nil
	case exactVersion.MatchString(s):
		return APIVersion(s), nil
	case s == previewTrain:
		return "", Errorf(EINVALID, "api version %q: a preview version only matches exactly: give it whole (YYYY-MM-DD.preview)", s)
	case trainName.MatchString(s):
		return APIVersion(s), nil
	}
	return "", Errorf(EINVALID, "api version %q: want an exact version such as 2026-07-29.dahlia, or a release train such as dahlia (versions before trains, like 2023-10-16, are not supported)", s)
}

// Train returns the release train: the part after the dot of an exact
// version, the version itself when it is a train, "" for the zero value.
func (v APIVersion) Train() string {
	if _, train, ok := strings.Cut(string(v), "."); ok {
		return train
	}
	return string(v)
}

// Exact reports whether v is an exact version, not a bare train.
func (v APIVersion) Exact() bool { return strings.Contains(string(v), ".") }

// Compatible reports whether an event rendered in the API version other
// (an event's api_version, or the version a Stripe endpoint is pinned to)
// can be read by a consumer of v: always for the zero v; never for an
// other without a train; for a preview v only the same version; else when
// both are of the same release train.
func (v APIVersion) Compatible(other string) bool {
	if v == "" {
		return true
	}
	_, otherTrain, ok := strings.Cut(other, ".")
	if !ok {
		return false
	}
	if v.Train() == previewTrain {
		return string(v) == other
	}
	return otherTrain == v.Train()
}

// String returns the version as given, "any" for the zero value.
func (v APIVersion) String() string {
	if v == "" {
		return "any"
	}
	return string(v)
}
