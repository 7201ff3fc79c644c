package main

import (
	"context"
	"errors"
)

// runSend is implemented in this file (owned by the send/load tool work).
func runSend(ctx context.Context, env *Env, args []string) error {
	return errors.New("send: not implemented yet")
}
