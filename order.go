package hookbox

// OrderKeyOf returns the OrderKey of an event that endpoint received about
// the Stripe object objectID (its data.object.id) in account ("" for the
// platform's own) and livemode: the events of one object, seen by one
// endpoint, are one key. "" when objectID is "" (an event about no object,
// such as invoice.upcoming, is not ordered).
func OrderKeyOf(endpoint, account string, livemode bool, objectID string) string {
	if objectID == "" {
		return ""
	}
	mode := "test"
	if livemode {
		mode = "live"
	}
	return endpoint + "/" + account + "/" + mode + "/" + objectID
}
