package envelope_test

import (
	"errors"
	"fmt"

	"github.com/hookbox/hookbox/envelope"
)

func ExampleParse() {
	body := []byte(`{
  "id": "evt_1QDa2bRr4nK8sLwM0yXc5VqT",
  "object": "event",
  "account": "acct_1Nv0FGQ9RKHgCVdK",
  "created": 1729612345,
  "data": {"object": {"id": "ch_3QDa2aRr4nK8sLwM1fG7hJk9", "object": "charge"}},
  "livemode": true,
  "type": "charge.succeeded"
}`)
	f, err := envelope.Parse(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(f.ID, f.Type, f.Account, f.Created, f.Livemode)

	_, err = envelope.Parse([]byte(`{"type": "charge.succeeded", "data": {"id": "ch_1"}}`))
	fmt.Println(errors.Is(err, envelope.ErrInvalid))
	// Output:
	// evt_1QDa2bRr4nK8sLwM0yXc5VqT charge.succeeded acct_1Nv0FGQ9RKHgCVdK 1729612345 true
	// true
}
