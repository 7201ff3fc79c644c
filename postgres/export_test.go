package postgres

import (
	"context"

	"github.com/hookbox/hookbox"
)

// CompleteClaimsRejecting is CompleteClaims with the first attempt of
// completion bad made invalid after validation (number 0, which the
// schema's CHECK refuses): the database, not validation, rejects it.
func (s *Store) CompleteClaimsRejecting(ctx context.Context, cs []hookbox.Completion, bad int) ([]error, error) {
	errs := make([]error, len(cs))
	args := make([]completion, len(cs))
	for i, c := range cs {
		args[i], errs[i] = completionArgs(c)
	}
	args[bad].attempts.numbers[0] = 0
	return s.completeClaims(ctx, cs, args, errs)
}

// CountEventsSQL is the statement of CountEvents, for its plan test.
const CountEventsSQL = countEventsSQL
