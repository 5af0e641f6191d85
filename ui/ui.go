// Package ui holds the console's templates (views/: layouts, pages,
// partials) and assets (static/: css, js, images, and vendor/ filled by
// make from package-lock.json), embedded in the binary. Package main hands
// FS to handlers; the handlers tests read the same files through it.
package ui

import "embed"

// FS is the console's views/ and static/ directories.
//
//go:embed views static
var FS embed.FS
