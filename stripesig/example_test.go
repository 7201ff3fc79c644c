package stripesig_test

import (
	"fmt"
	"time"

	"github.com/hookbox/hookbox/stripesig"
)

// A receiver rolling its secret accepts both, and learns which one matched.
func ExampleVerifier_Verify() {
	now := time.Unix(1700000000, 0)
	body := []byte(`{"id":"evt_1","object":"event"}`)
	v, err := stripesig.NewVerifier([]string{"whsec_old", "whsec_new"}, stripesig.Options{
		NowFunc: func() time.Time { return now }, // time.Now when nil
	})
	if err != nil {
		panic(err)
	}

	// Stripe signs with the new secret only, once the roll is over.
	header := stripesig.Sign(body, now.Add(-5*time.Second), "whsec_new")
	i, err := v.Verify(body, header)
	fmt.Println(i, err)

	// A replay an hour later is genuine but too old.
	header = stripesig.Sign(body, now.Add(-time.Hour), "whsec_new")
	_, err = v.Verify(body, header)
	fmt.Println(stripesig.Reason(err))

	// A forgery.
	_, err = v.Verify(body, stripesig.Sign(body, now, "whsec_guess"))
	fmt.Println(stripesig.Reason(err))
	// Output:
	// 1 <nil>
	// too_old
	// no_valid_signature
}

// Sign makes the header Stripe would send, for tests and local tools. (The
// signature was checked with Python's hmac module.)
func ExampleSign() {
	body := []byte(`{"id":"evt_test_webhook","object":"event"}`)
	fmt.Println(stripesig.Sign(body, time.Unix(1700000000, 0), "whsec_test_secret"))
	// Output:
	// t=1700000000,v1=d95c6b7477fbd7e9f90b1b0ef5f9c7ac25abca5382460e0d988c2b2a5b71b990
}
