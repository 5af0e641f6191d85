package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/user"
	"strings"

	"vigil/model"
	"vigil/store"
)

// cmdUser runs vigil user add NAME --role ROLE, with the password from
// VIGIL_PASSWORD(_FILE) or the first line of stdin.
func cmdUser(ctx context.Context, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "add" {
		return usageError{"usage: vigil user add NAME --role ROLE"}
	}
	var loc location
	var role string
	fs := newFlagSet("user add", &loc)
	fs.StringVar(&role, "role", "", "role: admin, auditor, operator or viewer")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) != 1 || role == "" {
		return usageError{"usage: vigil user add NAME --role admin|auditor|operator|viewer"}
	}
	password, err := secretFromEnv("VIGIL_PASSWORD")
	if err != nil {
		return err
	}
	if password == "" {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !(errors.Is(err, io.EOF) && line != "") {
			return fmt.Errorf("reading the password from standard input: %w", err)
		}
		password = strings.TrimRight(line, "\r\n")
	}
	st, err := openStore(ctx, loc, store.Options{})
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.CreateUser(ctx, pos[0], role, password, func(_, u model.User) ([]model.Event, error) {
		return auditEvent(st, cliActor(), model.TypeUserCreated, model.Entity{Type: "USER", ID: u.Name},
			fmt.Sprintf("Created user %s (%s)", u.Name, u.Role), model.UserChangeDetails(u.Name, map[string]any{"role": u.Role, "via": "cli"}))
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created user %s (%s)\n", u.Name, u.Role)
	return nil
}

// bootstrapAdmin creates user admin on first start, with password or a
// random one printed once.
func bootstrapAdmin(ctx context.Context, st *store.Store, password string, stderr io.Writer, log *slog.Logger) error {
	n, err := st.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	generated := password == ""
	if generated {
		password = model.NewSecret(18)
	}
	_, err = st.CreateUser(ctx, "admin", model.RoleAdmin, password, func(_, u model.User) ([]model.Event, error) {
		return auditEvent(st, model.VigilActor, model.TypeUserCreated, model.Entity{Type: "USER", ID: u.Name},
			"First start: created user admin (admin)", model.UserChangeDetails(u.Name, map[string]any{"role": u.Role}))
	})
	if err != nil {
		return fmt.Errorf("creating the first admin: %w", err)
	}
	if generated {
		fmt.Fprintf(stderr, "\n  First start: created user \"admin\" with password\n\n      %s\n\n  It is shown only this once. Sign in and change it.\n\n", password)
	}
	log.Info("created first admin user", "user", "admin", "generated_password", generated)
	return nil
}

// auditEvent returns the AUDIT_LOG event of an administrative change made
// outside the console, for the store to commit with the change.
func auditEvent(st *store.Store, actor model.Actor, typ string, entity model.Entity, msg string, details map[string]any) ([]model.Event, error) {
	e, err := model.NewAuditEvent(st.Now(), typ, "SUCCESS", actor, entity, msg, details)
	if err != nil {
		return nil, err
	}
	return []model.Event{e}, nil
}

// cliActor is the actor of changes made with the command line: the
// operating-system user running it.
func cliActor() model.Actor {
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	return model.CLIActor(name)
}
