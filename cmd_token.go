package main

import (
	"context"
	"fmt"
	"io"

	"vigil/model"
)

const tokenUsage = "usage: vigil token create --user NAME --name LABEL [--scope ingest|read|manage | --scope agent --agent ID]"

// cmdToken runs vigil token create and prints the new token's secret once.
func cmdToken(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return usageError{tokenUsage}
	}
	var loc location
	var userName, name, scope, agent string
	fs := newFlagSet("token create", &loc)
	fs.StringVar(&userName, "user", "", "user the token acts as")
	fs.StringVar(&name, "name", "", "label of the token")
	fs.StringVar(&scope, "scope", model.ScopeIngest, "ingest, agent, read or manage")
	fs.StringVar(&agent, "agent", "", "the agent id an agent token acts as (required with --scope agent)")
	pos, err := parseFlags(fs, args[1:])
	if err != nil {
		return err
	}
	if len(pos) > 0 || userName == "" || name == "" {
		return usageError{tokenUsage}
	}
	if scope == model.ScopeAgent && agent == "" {
		return usageError{"an agent token acts as one agent: give its id with --agent ID\n" + tokenUsage}
	}
	if scope != model.ScopeAgent && agent != "" {
		return usageError{fmt.Sprintf("--agent binds only a token of --scope agent, not %s\n%s", scope, tokenUsage)}
	}
	st, err := openExisting(ctx, loc)
	if err != nil {
		return err
	}
	defer st.Close()
	secret, _, err := st.CreateToken(ctx, userName, name, scope, agent, func(t model.Token) ([]model.Event, error) {
		return auditEvent(st, cliActor(), model.TypeTokenCreated, model.Entity{Type: "TOKEN", ID: fmt.Sprint(t.ID)},
			t.CreatedMessage(), t.AuditDetails("cli"))
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, secret)
	return nil
}
