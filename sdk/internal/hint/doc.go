// Package hint finds the likely intended name behind a typo, for the "did
// you mean" part of error messages about topology files and component
// classes.
package hint
