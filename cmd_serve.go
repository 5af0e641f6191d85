package main

import (
	"context"
	"io"
)

// cmdServe runs vigil serve: the appliance, until ctx ends.
func cmdServe(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := parseServeConfig(args)
	if err != nil {
		return err
	}
	return Run(ctx, cfg, stderr)
}

// Run runs the appliance until ctx is done, then shuts down: it stops
// accepting requests, lets running ones finish, drains the write queue and
// closes the database.
func Run(ctx context.Context, cfg Config, stderr io.Writer) error {
	app, err := build(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer app.Close()
	if err := app.Start(); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		app.Log.Info("shutting down")
	case err := <-app.Err():
		return err
	}
	return nil
}
