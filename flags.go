package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"vigil/model"
)

// location is where a command finds the store: the data directory (the
// checkpoint key, and the SQLite database DIR/vigil.db) and, for a store
// on PostgreSQL, the database's URL.
type location struct {
	DataDir  string
	Database string
}

// newFlagSet returns a flag set with --data, --database and --version
// defined.
func newFlagSet(name string, loc *location) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&loc.DataDir, "data", "./data", "data directory; the database is DIR/vigil.db unless --database names another")
	fs.StringVar(&loc.Database, "database", "", "PostgreSQL database the store is kept in (postgres://user@host/db); several nodes may share one. Empty: embedded SQLite in --data")
	fs.Bool("version", false, "print the version and exit")
	return fs
}

// newFlagSetOnly returns a flag set with --version defined, for a command
// that names its stores with flags of its own.
func newFlagSetOnly(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Bool("version", false, "print the version and exit")
	return fs
}

// parseFlags fills unset flags from VIGIL_<FLAG> (and VIGIL_<FLAG>_FILE for
// secrets), then parses args, which win: an environment variable a flag
// overrides is not checked. Positional arguments may stand between flags;
// they are returned in order.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	envErrs := map[string]error{}
	var order []string
	fs.VisitAll(func(f *flag.Flag) {
		key := "VIGIL_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(key); ok {
			if err := fs.Set(f.Name, v); err != nil {
				envErrs[f.Name] = usageError{fmt.Sprintf("%s: %v", key, err)}
				order = append(order, f.Name)
			}
		}
	})
	var failed error
	fs.VisitAll(func(f *flag.Flag) { f.Value = nameErrors(f, &failed) })
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				fs.SetOutput(os.Stdout)
				fs.PrintDefaults()
				return nil, err
			}
			if failed != nil {
				return nil, failed
			}
			return nil, usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range order {
		if !set[name] {
			return nil, envErrs[name]
		}
	}
	if v := fs.Lookup("version"); v != nil && v.Value.String() == "true" {
		return nil, errVersion
	}
	return pos, nil
}

// secretFromEnv returns VIGIL_NAME, or the trimmed content of the file
// named by VIGIL_NAME_FILE.
func secretFromEnv(name string) (string, error) {
	if v := os.Getenv(name); v != "" {
		return v, nil
	}
	if p := os.Getenv(name + "_FILE"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("%s_FILE: %w", name, err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return "", nil
}

// namedValue reports a failed Set of one of Vigil's typed flags as
// "--name: reason", the form of every other check of the command line,
// instead of the flag package's "invalid value … for flag -name: reason".
type namedValue struct {
	flag.Value
	name   string
	failed *error // the first failure, for parseFlags
}

// nameErrors wraps f's value in a namedValue if it is one of Vigil's
// typed flags.
func nameErrors(f *flag.Flag, failed *error) flag.Value {
	switch f.Value.(type) {
	case *sizeValue, *daysValue, *dayListValue:
		return namedValue{Value: f.Value, name: f.Name, failed: failed}
	}
	return f.Value
}

func (v namedValue) Set(s string) error {
	err := v.Value.Set(s)
	if err != nil && *v.failed == nil {
		*v.failed = usageError{"--" + v.name + ": " + err.Error()}
	}
	return err
}

func (v namedValue) String() string {
	if v.Value == nil {
		return ""
	}
	return v.Value.String()
}

// sizeValue is a byte size flag such as 1048576, 512KiB or 16MiB.
type sizeValue struct {
	n    *int64
	text string
}

// sizeVar defines a byte size flag with default def.
func sizeVar(fs *flag.FlagSet, p *int64, name, def, usage string) {
	v := &sizeValue{n: p}
	if err := v.Set(def); err != nil {
		panic(err)
	}
	fs.Var(v, name, usage)
}

func (v *sizeValue) String() string { return v.text }

func (v *sizeValue) Set(s string) error {
	n, err := parseSize(s)
	if err != nil {
		return err
	}
	*v.n, v.text = n, s
	return nil
}

// parseSize parses a byte size such as 1048576, 512KiB or 16MiB.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"B", 1}} {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.m
			break
		}
	}
	var n int64
	if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return n * mult, nil
}

// daysValue is a duration flag read by model.ParseDays: 10m, 1h, 400d.
// It is never negative; zero only if allowed.
type daysValue struct {
	d         *time.Duration
	text      string
	set       bool   // given on the command line or in the environment
	optional  bool   // no default: "" leaves it unset
	allowZero bool   // 0 is accepted (it means "off" or "forever")
	want      string // what a valid value is, for the error
}

// daysVar defines a duration flag with default def ("" leaves *p alone
// and the flag unset). want describes a valid value, as in "x is not want".
func daysVar(fs *flag.FlagSet, p *time.Duration, name, def string, allowZero bool, want, usage string) *daysValue {
	v := &daysValue{d: p, optional: def == "", allowZero: allowZero, want: want}
	if def != "" {
		if err := v.Set(def); err != nil {
			panic(err)
		}
		v.set = false
	}
	fs.Var(v, name, usage)
	return v
}

func (v *daysValue) String() string { return v.text }

func (v *daysValue) Set(s string) error {
	if s == "" && v.optional {
		v.text, v.set = "", false
		return nil
	}
	d, err := model.ParseDays(s)
	if err != nil || d < 0 || (d == 0 && !v.allowZero) {
		return fmt.Errorf("%q is not %s", s, v.want)
	}
	*v.d, v.text, v.set = d, s, true
	return nil
}

// dayListValue is a comma-separated list of distinct numbers of days
// between 1 and 3650, such as 30,14,7,1 (model.ParseExpiryDays).
type dayListValue struct {
	days *[]int
	text string
}

// dayListVar defines a list of days flag with default def.
func dayListVar(fs *flag.FlagSet, p *[]int, name, def, usage string) {
	v := &dayListValue{days: p}
	if err := v.Set(def); err != nil {
		panic(err)
	}
	fs.Var(v, name, usage)
}

func (v *dayListValue) String() string { return v.text }

func (v *dayListValue) Set(s string) error {
	days, err := model.ParseExpiryDays(s)
	if err != nil {
		return errors.New(model.ErrorMessage(err))
	}
	if len(days) == 0 {
		return errors.New("give at least one number of days")
	}
	*v.days, v.text = days, s
	return nil
}
