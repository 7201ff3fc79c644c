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
	var ids []string
	for i, c := range cs {
		if args[i], errs[i] = completionArgs(c); errs[i] == nil {
			ids = append(ids, c.EventID)
		}
	}
	args[bad].attempts.numbers[0] = 0
	return s.completeClaims(ctx, cs, args, errs, ids)
}
