package main

import (
	"context"
	"errors"
)

func runServe(ctx context.Context, env *Env, args []string) error   { return errors.New("todo") }
func runSign(ctx context.Context, env *Env, args []string) error    { return errors.New("todo") }
func runEvents(ctx context.Context, env *Env, args []string) error  { return errors.New("todo") }
func runVersion(ctx context.Context, env *Env, args []string) error { return errors.New("todo") }
