package handlers

import (
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"

	"vigil/ui"
)

// uiWithout returns the real views/ and static/ without the named file.
func uiWithout(t *testing.T, missing string) fs.FS {
	t.Helper()
	m := fstest.MapFS{}
	root := ui.FS
	for _, dir := range []string{"views", "static"} {
		err := fs.WalkDir(root, dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || p == missing {
				return err
			}
			b, err := fs.ReadFile(root, p)
			m[p] = &fstest.MapFile{Data: b}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return m
}

func TestBootNeedsEveryPageAndAsset(t *testing.T) {
	for _, tc := range []struct{ name, missing, says string }{
		{"Complete", "", ""},
		{"PageMissing", "views/pages/settings.html", "views/pages/settings.html is missing"},
		{"HtmxMissing", "static/vendor/htmx.min.js", "run make"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ui := uiWithout(t, tc.missing)
			_, err := parsePages(ui)
			if err == nil {
				_, err = staticFS(ui)
			}
			switch {
			case tc.says == "" && err != nil:
				t.Errorf("boot failed: %v", err)
			case tc.says != "" && (err == nil || !strings.Contains(err.Error(), tc.says)):
				t.Errorf("error %v, want one saying %q", err, tc.says)
			}
		})
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0", 7: "7", 999: "999", 1000: "1,000", 123456: "123,456", 1234567: "1,234,567", -4200: "-4,200",
	} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
